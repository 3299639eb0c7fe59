using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Systemd;

namespace RelayAppliance.Host.Tests.Systemd;

/// <summary>The manager's side played by a real AF_UNIX datagram socket, as systemd binds it.</summary>
public sealed class SystemdNotifierTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("relay-notify-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Socket Bind(string name)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(name));
        socket.ReceiveTimeout = 5000;
        return socket;
    }

    private static string Receive(Socket socket)
    {
        var buffer = new byte[4096];
        var n = socket.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public void ReadyGoesToAPathSocketWithStatusAndMainPid()
    {
        var path = Path.Combine(_directory, "notify");
        using var manager = Bind(path);
        using var notifier = new SystemdNotifier(path);

        Assert.True(notifier.IsEnabled);
        notifier.Ready("Serving SMTP 127.0.0.1:25");

        var lines = Receive(manager).Split('\n');
        Assert.Equal("READY=1", lines[0]);
        Assert.Contains("STATUS=Serving SMTP 127.0.0.1:25", lines);
        Assert.Contains($"MAINPID={Environment.ProcessId}", lines);
    }

    [Fact]
    public void AnAbstractNameIsSpelledWithAnAtSign()
    {
        var name = "relayd-test-" + Guid.NewGuid().ToString("n");
        using var manager = Bind("\0" + name);
        using var notifier = new SystemdNotifier("@" + name);

        notifier.Stopping();
        notifier.Watchdog();

        Assert.StartsWith("STOPPING=1\n", Receive(manager));
        Assert.Equal("WATCHDOG=1", Receive(manager));
    }

    [Fact]
    public void ReloadingCarriesTheMonotonicClock()
    {
        var path = Path.Combine(_directory, "notify");
        using var manager = Bind(path);
        using var notifier = new SystemdNotifier(path);

        var before = Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000);
        notifier.Reloading();
        var after = Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000);

        var lines = Receive(manager).Split('\n');
        Assert.Equal("RELOADING=1", lines[0]);
        var usec = long.Parse(lines.Single(l => l.StartsWith("MONOTONIC_USEC=", StringComparison.Ordinal))["MONOTONIC_USEC=".Length..]);
        Assert.InRange(usec, before, after);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("vsock:2:1234")]
    public void WithoutANotifySocketEverythingIsANoOp(string? notifySocket)
    {
        using var notifier = new SystemdNotifier(notifySocket);
        Assert.False(notifier.IsEnabled);
        Assert.False(notifier.Send("READY=1"));
        notifier.Ready("x"); // no throw
    }

    [Fact]
    public void AManagerThatWentAwayDoesNotThrow()
    {
        using var notifier = new SystemdNotifier(Path.Combine(_directory, "nobody-listens"));
        Assert.False(notifier.Send("READY=1"));
    }

    [Theory]
    [InlineData("30000000", null, 15_000)]   // WatchdogSec=30: ping every 15 s
    [InlineData("2000000", "", 1_000)]
    [InlineData("2000000", "4242", 1_000)]   // WATCHDOG_PID is us
    [InlineData("2000000", "4243", null)]    // meant for another process
    [InlineData("0", null, null)]
    [InlineData("-5", null, null)]
    [InlineData("abc", null, null)]
    [InlineData(null, null, null)]
    public void WatchdogIntervalIsHalfOfWatchdogUsec(string? usec, string? pid, int? expectedMilliseconds)
    {
        var interval = SystemdNotifier.WatchdogInterval(usec, pid, 4242);
        Assert.Equal(expectedMilliseconds is { } ms ? TimeSpan.FromMilliseconds(ms) : null, interval);
    }

    [Fact]
    public async Task TheWatchdogPingsOnlyWhileHealthy()
    {
        var path = Path.Combine(_directory, "notify");
        using var manager = Bind(path);
        using var notifier = new SystemdNotifier(path);
        var healthy = true;

        var watchdog = SystemdWatchdog.Start(notifier, TimeSpan.FromMilliseconds(50), () => Volatile.Read(ref healthy),
            TimeProvider.System, NullLogger.Instance);
        Assert.NotNull(watchdog);
        await using (watchdog)
        {
            Assert.Equal("WATCHDOG=1", Receive(manager));
            Assert.Equal("WATCHDOG=1", Receive(manager));
            Volatile.Write(ref healthy, false);
            await Task.Delay(150);
            while (manager.Available > 0)
            {
                Receive(manager); // pings sent before the flag changed
            }
            await Task.Delay(300);
            Assert.Equal(0, manager.Available);
        }
    }

    [Fact]
    public void NoWatchdogWithoutAnIntervalOrASocket()
    {
        using var disabled = new SystemdNotifier(null);
        Assert.Null(SystemdWatchdog.Start(disabled, TimeSpan.FromSeconds(1), () => true, TimeProvider.System, NullLogger.Instance));
        using var enabled = new SystemdNotifier(Path.Combine(_directory, "x"));
        Assert.Null(SystemdWatchdog.Start(enabled, null, () => true, TimeProvider.System, NullLogger.Instance));
    }

    [Fact]
    public void JournalStreamMatchesTheDeviceAndInodeOfTheDescriptor()
    {
        var path = Path.Combine(_directory, "stderr");
        using var file = new FileStream(path, FileMode.Create);
        var fd = (int)file.SafeFileHandle.DangerousGetHandle();

        Assert.True(JournalStream.TryStat(fd, out var device, out var inode));
        // Cross-checked with coreutils stat(1), which prints st_dev and st_ino in decimal (as systemd does).
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%d:%i", path]) { RedirectStandardOutput = true })!;
        Assert.Equal(stat.StandardOutput.ReadToEnd().Trim(), $"{device}:{inode}");

        Assert.True(JournalStream.Matches($"{device}:{inode}", fd));
        Assert.False(JournalStream.Matches($"{device}:{inode + 1}", fd));
        Assert.False(JournalStream.Matches("", fd));
        Assert.False(JournalStream.Matches("garbage", fd));
        Assert.False(JournalStream.Matches($"{device}:{inode}", 9999)); // not open
    }
}
