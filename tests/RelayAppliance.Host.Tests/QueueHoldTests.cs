using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests;

/// <summary>`relayd queue hold|release ID|ALL` against the spool directly (relayd stopped).</summary>
public sealed class QueueHoldTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-hold-" + Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static async Task<MessageId> QueueAsync(MessageSpool spool, string recipient)
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", "c", null, tls: false);
        envelope.SetSender("alice@local.test"u8, false, false);
        envelope.AddRecipient(Encoding.UTF8.GetBytes(recipient), RecipientRoute.Remote);
        var body = spool.CreateBodyWriter();
        "Subject: x\r\n\r\nbody\r\n"u8.CopyTo(body.GetSpan());
        body.Advance(20);
        return await spool.AcceptAsync(body, envelope, CancellationToken.None);
    }

    [Fact]
    public async Task HoldAndReleaseByIdAndAllShowInTheListing()
    {
        var configuration = SettingsLoader.Load(null, [$"--Relay:DataDirectory={_directory}"]);
        await using var spool = MessageSpool.Open(new SpoolOptions { Directory = configuration.SpoolDirectory, FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var a = await QueueAsync(spool, "bob@remote.test");
        var b = await QueueAsync(spool, "carol@remote.test");

        var output = new StringWriter();
        Assert.Equal(0, await QueueCommand.ExecuteAsync(spool, ["hold", a.ToString()], false, output, TextWriter.Null, configuration));
        Assert.Equal($"held {a}", output.ToString().Trim());
        Assert.True(spool.Find(a)!.Held);
        Assert.False(spool.Find(b)!.Held);

        var list = new StringWriter();
        await QueueCommand.ExecuteAsync(spool, ["list"], false, list, TextWriter.Null, configuration);
        Assert.Contains($"{a}! ", list.ToString()); // like mailq: '!' marks held mail
        Assert.Contains($"{b}  ", list.ToString());
        var json = new StringWriter();
        await QueueCommand.ExecuteAsync(spool, ["list"], true, json, TextWriter.Null, configuration);
        Assert.Contains("\"held\":true", json.ToString());

        output = new StringWriter();
        Assert.Equal(0, await QueueCommand.ExecuteAsync(spool, ["hold", "ALL"], false, output, TextWriter.Null, configuration));
        Assert.Equal("held 1 messages", output.ToString().Trim()); // only b changed
        Assert.True(spool.Find(b)!.Held);
        Assert.Empty(spool.PendingRemote());

        output = new StringWriter();
        Assert.Equal(0, await QueueCommand.ExecuteAsync(spool, ["release", "ALL"], false, output, TextWriter.Null, configuration));
        Assert.Equal("released 2 messages", output.ToString().Trim());
        Assert.Equal(2, spool.PendingRemote().Count);

        var error = new StringWriter();
        Assert.Equal(1, await QueueCommand.ExecuteAsync(spool, ["hold", "0123456789abcdef"], false, TextWriter.Null, error, configuration));
        Assert.Contains("no message 0123456789abcdef", error.ToString());
    }

    [Fact]
    public async Task HoldOfSomethingThatIsNotAnIdIsAUsageError()
    {
        var configuration = SettingsLoader.Load(null, [$"--Relay:DataDirectory={_directory}"]);
        // Program turns a UsageException into exit code 2 with its message.
        var e = await Assert.ThrowsAsync<UsageException>(() => QueueCommand.RunAsync(configuration, ["hold", "nope"], false, TextWriter.Null, TextWriter.Null));
        Assert.Contains("'nope' is not a message id", e.Message);
        await Assert.ThrowsAsync<UsageException>(() => QueueCommand.RunAsync(configuration, ["release"], false, TextWriter.Null, TextWriter.Null));
    }
}
