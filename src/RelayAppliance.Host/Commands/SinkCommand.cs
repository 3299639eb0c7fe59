using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Server.Sink;

namespace RelayAppliance.Host.Commands;

/// <summary>What `relayd sink` was asked to do.</summary>
internal sealed record SinkArguments(IPEndPoint Listen, string ReplyMixSpec, ReplyMix ReplyMix, TimeSpan Delay, string? DumpDirectory,
    TimeSpan? Duration, string? JsonFile, bool AllowRemote);

/// <summary>
/// `relayd sink --listen HOST:PORT [--reply-mix SPEC] [--delay MS] [--dump DIR] [--duration T] [--json FILE] [--allow-remote]`:
/// a measuring SMTP sink (like Postfix's smtp-sink). One line of rates per second on stderr, a summary on stdout at exit.
/// Parsed on its own (not by <see cref="CommandLine"/>): the sink takes no configuration file.
/// </summary>
internal static class SinkCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancel = default)
    {
        SinkArguments arguments;
        try
        {
            arguments = Parse(args);
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"relayd sink: {e.Message}").ConfigureAwait(false);
            await error.WriteLineAsync("Try 'relayd --help'.").ConfigureAwait(false);
            return Program.ExitUsage;
        }

        await using var server = new SinkServer(new SinkOptions
        {
            EndPoint = arguments.Listen,
            ReplyMix = arguments.ReplyMix,
            Delay = arguments.Delay,
            DumpDirectory = arguments.DumpDirectory,
            Hostname = Dns.GetHostName(),
        });
        try
        {
            server.Start();
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"relayd sink: cannot listen on {arguments.Listen}: {e.Message}").ConfigureAwait(false);
            return Program.ExitFailure;
        }
        await error.WriteLineAsync($"relayd sink: listening on {server.BoundEndPoint}, replies {arguments.ReplyMixSpec}, delay {arguments.Delay.TotalMilliseconds} ms"
            + (arguments.DumpDirectory is null ? "" : $", dumping to {arguments.DumpDirectory}")).ConfigureAwait(false);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (arguments.Duration is { } duration)
        {
            stop.CancelAfter(duration);
        }
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        var clock = Stopwatch.StartNew();
        var previous = server.Counters.Snapshot();
        var peak = 0L;
        using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(1)))
        {
            try
            {
                while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
                {
                    var now = server.Counters.Snapshot();
                    peak = Math.Max(peak, now.Messages - previous.Messages);
                    await error.WriteLineAsync(FormatSecond(previous, now)).ConfigureAwait(false);
                    previous = now;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
        var elapsed = clock.Elapsed;
        await server.StopAsync().ConfigureAwait(false);

        var total = server.Counters.Snapshot();
        await output.WriteLineAsync(FormatSummary(server, total, elapsed, peak)).ConfigureAwait(false);
        if (arguments.JsonFile is { } jsonFile)
        {
            try
            {
                WriteJson(jsonFile, server, arguments, total, elapsed, peak);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"relayd sink: cannot write {jsonFile}: {e.Message}").ConfigureAwait(false);
                return Program.ExitFailure;
            }
        }
        return Program.ExitOk;

        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    internal static SinkArguments Parse(string[] args)
    {
        IPEndPoint? listen = null;
        var mixSpec = "250:100";
        var mix = ReplyMix.AcceptAll;
        var delay = TimeSpan.Zero;
        string? dump = null, json = null;
        TimeSpan? duration = null;
        var allowRemote = false;
        for (var i = 0; i < args.Length; i++)
        {
            var option = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{option} needs a value");
            switch (option)
            {
                case "--listen":
                    var text = Value();
                    try
                    {
                        listen = SettingsLoader.ParseEndpoint(text, "--listen");
                    }
                    catch (ConfigurationException e)
                    {
                        throw new UsageException(e.Message);
                    }
                    break;
                case "--reply-mix":
                    mixSpec = Value();
                    if (!ReplyMix.TryParse(mixSpec, seed: 0, out var parsed, out var mixError))
                    {
                        throw new UsageException($"--reply-mix: {mixError}");
                    }
                    mix = parsed!;
                    break;
                case "--delay":
                    var ms = Value();
                    if (!int.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds) || milliseconds > 600_000)
                    {
                        throw new UsageException($"--delay: '{ms}' is not a number of milliseconds (0 to 600000)");
                    }
                    delay = TimeSpan.FromMilliseconds(milliseconds);
                    break;
                case "--dump":
                    dump = Path.GetFullPath(Value());
                    break;
                case "--duration":
                    var d = Value();
                    duration = ParseDuration(d) ?? throw new UsageException($"--duration: '{d}' is not a duration (like 30, 30s, 5m, 1h)");
                    break;
                case "--json":
                    json = Value();
                    break;
                case "--allow-remote":
                    allowRemote = true;
                    break;
                default:
                    throw new UsageException($"unknown option '{option}'");
            }
        }
        if (listen is null)
        {
            throw new UsageException("--listen HOST:PORT is required");
        }
        if (!allowRemote && !IPAddress.IsLoopback(listen.Address))
        {
            throw new UsageException($"--listen: {listen.Address} is not a loopback address; add --allow-remote to accept mail from other hosts");
        }
        return new SinkArguments(listen, mixSpec, mix, delay, dump, duration, json, allowRemote);
    }

    private static TimeSpan? ParseDuration(string text)
    {
        var hasUnit = text.Length > 0 && char.IsAsciiLetter(text[^1]);
        var unit = hasUnit ? text[^1] : 's';
        var number = hasUnit ? text[..^1] : text;
        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            return null;
        }
        return unit switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            _ => null,
        };
    }

    private static string FormatSecond(SinkSnapshot before, SinkSnapshot now) => string.Create(CultureInfo.InvariantCulture,
        $"{now.Messages - before.Messages,8} msgs/s {now.Recipients - before.Recipients,8} rcpts/s {(now.Bytes - before.Bytes) / 1e6,8:F2} MB/s | total {now.Messages} msgs {now.Recipients} rcpts {now.Bytes / 1e6:F2} MB {now.Connections} conns");

    private static string FormatSummary(SinkServer server, SinkSnapshot total, TimeSpan elapsed, long peak)
    {
        var seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
        var replies = string.Join(", ", Enumerable.Range(0, server.Options.ReplyMix.Count)
            .Select(i => string.Create(CultureInfo.InvariantCulture, $"{server.Options.ReplyMix.Code(i)}: {server.Counters.ByReply(i)}")));
        return string.Create(CultureInfo.InvariantCulture,
            $"relayd sink: {elapsed.TotalSeconds:F1} s, {total.Connections} connections, {total.Messages} messages, {total.Recipients} recipients, {total.Bytes} bytes; average {total.Messages / seconds:F0} msgs/s, {total.Bytes / seconds / 1e6:F2} MB/s, peak {peak} msgs/s; replies {replies}");
    }

    private static void WriteJson(string file, SinkServer server, SinkArguments arguments, SinkSnapshot total, TimeSpan elapsed, long peak)
    {
        var seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
        using var stream = File.Create(file);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("listen", arguments.Listen.ToString());
        json.WriteString("replyMix", arguments.ReplyMixSpec);
        json.WriteNumber("delayMs", (long)arguments.Delay.TotalMilliseconds);
        json.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
        json.WriteNumber("connections", total.Connections);
        json.WriteNumber("messages", total.Messages);
        json.WriteNumber("recipients", total.Recipients);
        json.WriteNumber("bytes", total.Bytes);
        json.WriteNumber("messagesPerSecond", Math.Round(total.Messages / seconds, 1));
        json.WriteNumber("megabytesPerSecond", Math.Round(total.Bytes / seconds / 1e6, 3));
        json.WriteNumber("peakMessagesPerSecond", peak);
        json.WriteStartObject("replies");
        for (var i = 0; i < server.Options.ReplyMix.Count; i++)
        {
            json.WriteNumber(server.Options.ReplyMix.Code(i).ToString(CultureInfo.InvariantCulture), server.Counters.ByReply(i));
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
