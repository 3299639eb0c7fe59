using System.Runtime.InteropServices;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Load;

/// <summary><c>relayd load</c>: parse, run, print progress (stderr) and the summary (stdout), write --json.</summary>
internal static class LoadCommand
{
    /// <summary>0 when the run finished and some message was accepted, 1 when none was, 2 for usage errors (thrown).</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter progress, CancellationToken cancellationToken = default)
    {
        var options = LoadOptions.Parse(args);
        var runner = new LoadRunner(options);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            runner.Stop();
        });
        using var done = new CancellationTokenSource();
        var run = runner.RunAsync(cancellationToken);
        var reporter = ReportProgressAsync(runner, progress, done.Token);
        try
        {
            await run.ConfigureAwait(false);
        }
        finally
        {
            await done.CancelAsync().ConfigureAwait(false);
            await reporter.ConfigureAwait(false);
        }
        LoadReport.WriteSummary(output, options, runner);
        if (options.JsonFile is { } jsonFile)
        {
            try
            {
                await using var stream = File.Create(jsonFile);
                LoadReport.WriteJson(stream, options, runner);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The run itself is in the summary above; only the file is missing.
                await Console.Error.WriteLineAsync($"relayd: cannot write --json {jsonFile}: {e.Message}").ConfigureAwait(false);
                return Program.ExitFailure;
            }
        }
        return runner.Statistics.Accepted > 0 ? Program.ExitOk : Program.ExitFailure;
    }

    private static async Task ReportProgressAsync(LoadRunner runner, TextWriter progress, CancellationToken cancellationToken)
    {
        if (progress == TextWriter.Null)
        {
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        long previous = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var line = LoadReport.ProgressLine(runner, previous, TimeSpan.FromSeconds(1));
                previous = runner.Statistics.Attempted;
                await progress.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

}
