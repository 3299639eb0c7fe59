using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Load;

/// <summary><c>relayd load</c>: parse, run, print progress (stderr) and the summary (stdout), write --json.</summary>
internal static class LoadCommand
{
    /// <summary>0 when the run finished and some message was accepted, 1 when none was, 2 for usage errors (thrown).</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter progress, CancellationToken cancellationToken = default)
    {
        if (args.Count > 0 && args[0] == "report")
        {
            return Report([.. args.Skip(1)]);
        }
        if (args.Count > 0 && args[0] == "compare")
        {
            return LoadCompare.Run([.. args.Skip(1)], output, Console.Error);
        }
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
        if (options.JsonFile is null && options.ReportFile is null)
        {
            return runner.Statistics.Accepted > 0 ? Program.ExitOk : Program.ExitFailure;
        }
        // The report is rendered from the JSON document, so a live run and `load report` of its file look the same.
        var json = new MemoryStream();
        LoadReport.WriteJson(json, options, runner);
        if (!TryWrite("--json", options.JsonFile, json.ToArray()))
        {
            return Program.ExitFailure;
        }
        if (options.ReportFile is { } reportFile)
        {
            using var document = JsonDocument.Parse(json.ToArray());
            if (!TryWrite("--report", reportFile, Encoding.UTF8.GetBytes(LoadHtmlReport.Render(document.RootElement))))
            {
                return Program.ExitFailure;
            }
        }
        return runner.Statistics.Accepted > 0 ? Program.ExitOk : Program.ExitFailure;
    }

    /// <summary>False (after saying why on stderr) when the file cannot be written; the run itself is in the summary.</summary>
    private static bool TryWrite(string option, string? path, byte[] bytes)
    {
        if (path is null)
        {
            return true;
        }
        try
        {
            File.WriteAllBytes(path, bytes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"relayd: cannot write {option} {path}: {e.Message}");
            return false;
        }
    }

    /// <summary><c>relayd load report RUN.json --out FILE.html</c>: 0 written, 1 file unreadable/unwritable, 2 usage.</summary>
    private static int Report(string[] args)
    {
        var (input, output) = args switch
        {
            [var file, "--out", var html] => (file, html),
            ["--out", var html, var file] => (file, html),
            _ => throw new UsageException("load report: usage is 'relayd load report RUN.json --out FILE.html'"),
        };
        JsonDocument document;
        try
        {
            document = LoadResultFile.Read(input);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"relayd: cannot read {input}: {e.Message}");
            return Program.ExitFailure;
        }
        using (document)
        {
            return TryWrite("--out", output, Encoding.UTF8.GetBytes(LoadHtmlReport.Render(document.RootElement))) ? Program.ExitOk : Program.ExitFailure;
        }
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
