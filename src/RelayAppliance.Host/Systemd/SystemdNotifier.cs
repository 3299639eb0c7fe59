using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Host.Systemd;

/// <summary>
/// sd_notify(3) without libsystemd: one AF_UNIX datagram per state change to the socket the service manager names in
/// NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Without NOTIFY_SOCKET every call is a no-op, so
/// relayd behaves the same from a shell. Microsoft.Extensions.Hosting.Systemd does the same but needs the generic
/// host and has no watchdog or reload support; this is the part relayd needs.
/// </summary>
internal sealed class SystemdNotifier : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endPoint;
    private readonly object _gate = new();

    public SystemdNotifier(string? notifySocket)
    {
        if (string.IsNullOrEmpty(notifySocket) || notifySocket[0] is not ('/' or '@'))
        {
            return; // unset, or a vsock:… address (VM managers), which relayd has no use for
        }
        // Abstract socket names start with a NUL byte; systemd spells that byte '@'.
        _endPoint = new UnixDomainSocketEndPoint(notifySocket[0] == '@' ? "\0" + notifySocket[1..] : notifySocket);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>From the process environment (NOTIFY_SOCKET).</summary>
    public static SystemdNotifier FromEnvironment() => new(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    /// <summary>True when a service manager listens (NOTIFY_SOCKET set).</summary>
    public bool IsEnabled => _socket is not null;

    /// <summary>READY=1 with a status line and our pid (MAINPID matters when a wrapper started us).</summary>
    public void Ready(string status) => Send($"READY=1\nSTATUS={OneLine(status)}\nMAINPID={Environment.ProcessId}");

    /// <summary>RELOADING=1 with MONOTONIC_USEC (systemd ≥ 253 requires it for Type=notify-reload; older ones ignore it).</summary>
    public void Reloading() => Send($"RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC={MonotonicMicroseconds()}");

    public void Stopping() => Send("STOPPING=1\nSTATUS=Stopping: finishing open transactions");

    public void Watchdog() => Send("WATCHDOG=1");

    public void Status(string status) => Send($"STATUS={OneLine(status)}");

    /// <summary>Sends one datagram; errors are swallowed (a manager that went away must not stop mail).</summary>
    public bool Send(string state)
    {
        if (_socket is null)
        {
            return false;
        }
        var bytes = Encoding.UTF8.GetBytes(state);
        lock (_gate)
        {
            try
            {
                _socket.SendTo(bytes, SocketFlags.None, _endPoint!);
                return true;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// The watchdog ping interval: half of WATCHDOG_USEC (as sd_watchdog_enabled(3) advises), or null when there is no
    /// watchdog, the value is not a positive number, or WATCHDOG_PID names another process.
    /// </summary>
    public static TimeSpan? WatchdogInterval(string? watchdogUsec, string? watchdogPid, int processId)
    {
        if (!ulong.TryParse(watchdogUsec, NumberStyles.None, CultureInfo.InvariantCulture, out var usec) || usec == 0)
        {
            return null;
        }
        if (!string.IsNullOrEmpty(watchdogPid)
            && (!int.TryParse(watchdogPid, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid != processId))
        {
            return null;
        }
        return TimeSpan.FromMicroseconds(usec / 2);
    }

    public static TimeSpan? WatchdogIntervalFromEnvironment() => WatchdogInterval(
        Environment.GetEnvironmentVariable("WATCHDOG_USEC"), Environment.GetEnvironmentVariable("WATCHDOG_PID"), Environment.ProcessId);

    /// <summary>CLOCK_MONOTONIC in microseconds: on Linux Stopwatch reads that clock in nanoseconds.</summary>
    private static ulong MonotonicMicroseconds() => (ulong)(Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000));

    private static string OneLine(string text) => text.Replace('\n', ' ');

    public void Dispose()
    {
        lock (_gate)
        {
            _socket?.Dispose();
        }
    }
}
