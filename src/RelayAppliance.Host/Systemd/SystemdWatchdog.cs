using Microsoft.Extensions.Logging;

namespace RelayAppliance.Host.Systemd;

/// <summary>
/// Pings the service manager's watchdog (WATCHDOG=1) every half WATCHDOG_USEC, but only while relayd is healthy: a
/// spool or mailbox store that failed its commit refuses all mail until restarted, so the pings stop and systemd
/// restarts relayd (WatchdogSec=, Restart=on-failure). A hung process stops pinging by itself.
/// </summary>
internal sealed partial class SystemdWatchdog : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private SystemdWatchdog(SystemdNotifier notifier, TimeSpan interval, Func<bool> healthy, TimeProvider time, ILogger logger)
    {
        _loop = RunAsync(notifier, interval, healthy, time, logger, _stop.Token);
    }

    /// <summary>Null when there is nothing to ping (no NOTIFY_SOCKET or no watchdog).</summary>
    public static SystemdWatchdog? Start(SystemdNotifier notifier, TimeSpan? interval, Func<bool> healthy, TimeProvider time, ILogger logger) =>
        notifier.IsEnabled && interval is { } every ? new SystemdWatchdog(notifier, every, healthy, time, logger) : null;

    private static async Task RunAsync(SystemdNotifier notifier, TimeSpan interval, Func<bool> healthy, TimeProvider time, ILogger logger,
        CancellationToken token)
    {
        using var timer = new PeriodicTimer(interval, time);
        var wasHealthy = true;
        do
        {
            var isHealthy = healthy();
            if (isHealthy)
            {
                notifier.Watchdog();
            }
            else if (wasHealthy)
            {
                LogUnhealthy(logger); // once per failure, not every tick
            }
            wasHealthy = isHealthy;
        }
        while (await WaitAsync(timer, token).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(4010, LogLevel.Critical, "Unhealthy (the spool or the mailbox store failed): watchdog pings stopped, systemd will restart relayd")]
    private static partial void LogUnhealthy(ILogger logger);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
