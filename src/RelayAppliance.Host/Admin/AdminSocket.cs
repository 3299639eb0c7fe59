using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Admin;

// The admin socket is a Unix domain socket in the data directory, mode 0600: only the user relayd runs as (and
// root) can reach it. Request: the queue command's words, one per line, then an empty line. Response: the exit
// code on the first line, the length of standard output in bytes on the second, standard output, then standard error.

internal sealed partial class AdminSocketServer(RelaydConfiguration configuration, MessageSpool spool, ILoggerFactory loggerFactory,
    DeliveryService? delivery) : IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger("RelayAppliance.Admin");
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _loop = Task.CompletedTask;

    public void Start()
    {
        var path = configuration.AdminSocketPath;
        File.Delete(path); // a stale socket from a killed relayd; we hold the spool lock, so no live server owns it
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _listener.Listen(16);
        _loop = AcceptLoopAsync(_listener);
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                await ServeAsync(client).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or UsageException)
            {
                LogRequestFailed(_logger, e.Message);
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        await using var stream = new NetworkStream(client, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var words = new List<string>();
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { Length: > 0 } line && words.Count < 8)
        {
            words.Add(line);
        }
        var json = words.Remove("--json");
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode;
        try
        {
            exitCode = await QueueCommand.ExecuteAsync(spool, words.ToArray(), json, output, error, configuration, delivery).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"relayd: {e.Message}").ConfigureAwait(false);
            exitCode = Program.ExitUsage;
        }
        var outputBytes = Encoding.UTF8.GetBytes(output.ToString());
        var response = Encoding.UTF8.GetBytes($"{exitCode}\n{outputBytes.Length}\n");
        await stream.WriteAsync(response).ConfigureAwait(false);
        await stream.WriteAsync(outputBytes).ConfigureAwait(false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(error.ToString())).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener?.Dispose();
        await _loop.ConfigureAwait(false);
        File.Delete(configuration.AdminSocketPath);
        _stop.Dispose();
    }

    [LoggerMessage(2000, LogLevel.Warning, "Admin request failed: {Error}")]
    private static partial void LogRequestFailed(ILogger logger, string error);
}

internal static class AdminClient
{
    /// <summary>Sends the request to a running relayd; null when none answers on the socket.</summary>
    public static async Task<int?> TrySendAsync(string socketPath, string[] words, TextWriter output, TextWriter error)
    {
        if (!File.Exists(socketPath))
        {
            return null;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return null; // stale socket file: relayd is not running
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(string.Join('\n', words) + "\n\n")).ConfigureAwait(false);
        using var response = new MemoryStream();
        await stream.CopyToAsync(response).ConfigureAwait(false);
        var bytes = response.ToArray();
        var firstNewline = Array.IndexOf(bytes, (byte)'\n');
        var secondNewline = firstNewline < 0 ? -1 : Array.IndexOf(bytes, (byte)'\n', firstNewline + 1);
        if (secondNewline < 0
            || !int.TryParse(bytes.AsSpan(0, firstNewline), out var exitCode)
            || !int.TryParse(bytes.AsSpan(firstNewline + 1, secondNewline - firstNewline - 1), out var outputLength))
        {
            await error.WriteLineAsync("relayd: malformed answer from the admin socket").ConfigureAwait(false);
            return Program.ExitFailure;
        }
        var start = secondNewline + 1;
        await output.WriteAsync(Encoding.UTF8.GetString(bytes, start, outputLength)).ConfigureAwait(false);
        await error.WriteAsync(Encoding.UTF8.GetString(bytes, start + outputLength, bytes.Length - start - outputLength)).ConfigureAwait(false);
        return exitCode;
    }
}
