using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Admin;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests;

/// <summary>`relayd queue …` while a relayd holds the spool: it goes through that relayd's admin socket.</summary>
public sealed class QueueAdminSocketTests : IDisposable
{
    // Unix socket paths are limited to ~108 bytes: a short directory.
    private readonly string _directory = Path.Combine("/tmp", "rq-" + Guid.NewGuid().ToString("n")[..12]);

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_command_waits_for_the_admin_socket_of_a_relayd_that_is_still_starting()
    {
        var configuration = SettingsLoader.Load(null, [$"--Relay:DataDirectory={_directory}"]);
        await using var spool = RunCommand.Open(configuration, NullLoggerFactory.Instance, TimeProvider.System); // holds the lock
        var output = new StringWriter();
        var command = QueueCommand.RunAsync(configuration, ["stats"], json: true, output, TextWriter.Null, TimeSpan.FromSeconds(20));

        await Task.Delay(500); // the spool is held and no admin socket answers yet, as while relayd scans its queue
        Assert.False(command.IsCompleted);
        await using var admin = new AdminSocketServer(configuration, spool, NullLoggerFactory.Instance, null);
        admin.Start();

        Assert.Equal(0, await command.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("\"messages\":0", output.ToString());
    }

    [Fact]
    public async Task A_command_gives_up_when_the_spool_is_held_and_no_admin_socket_answers()
    {
        var configuration = SettingsLoader.Load(null, [$"--Relay:DataDirectory={_directory}"]);
        await using var spool = RunCommand.Open(configuration, NullLoggerFactory.Instance, TimeProvider.System);
        var error = new StringWriter();
        Assert.Equal(1, await QueueCommand.RunAsync(configuration, ["stats"], json: false, TextWriter.Null, error, TimeSpan.FromMilliseconds(300)));
        Assert.Contains("held by a running relayd whose admin socket", error.ToString());
    }
}
