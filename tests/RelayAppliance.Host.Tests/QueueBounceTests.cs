using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests;

public sealed class QueueBounceTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-bounce-" + Guid.NewGuid().ToString("n"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<MessageId> QueueAsync(MessageSpool spool, string sender, string recipient)
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", "c", null, tls: false);
        envelope.SetSender(Encoding.UTF8.GetBytes(sender), false, false);
        envelope.AddRecipient(Encoding.UTF8.GetBytes(recipient), RecipientRoute.Remote);
        var body = spool.CreateBodyWriter();
        var content = "Subject: stuck\r\n\r\nbody\r\n"u8;
        content.CopyTo(body.GetSpan());
        body.Advance(content.Length);
        return await spool.AcceptAsync(body, envelope, CancellationToken.None);
    }

    [Fact]
    public async Task BounceFailsPendingRecipientsAndQueuesOneDsnToTheSender()
    {
        var configuration = SettingsLoader.Load(null, [$"--Relay:DataDirectory={_directory}", "--Relay:LocalDomains:0=local.test", "--Relay:Hostname=mx.local.test"]);
        await using var spool = MessageSpool.Open(new SpoolOptions { Directory = configuration.SpoolDirectory, FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var stuck = await QueueAsync(spool, "alice@local.test", "bob@remote.test");
        var bounceOfBounce = await QueueAsync(spool, "", "carol@remote.test");
        var output = new StringWriter();

        Assert.Equal(0, await QueueCommand.ExecuteAsync(spool, ["bounce", stuck.ToString()], false, output, TextWriter.Null, configuration));
        Assert.Null(spool.Find(stuck));
        var dsn = Assert.Single(spool.List(), m => m.Id != bounceOfBounce);
        Assert.Equal("", dsn.Sender);
        Assert.Equal("alice@local.test", dsn.Recipients[0].Address);
        Assert.Equal(RecipientRoute.Local, dsn.Recipients[0].Route);
        Assert.Contains($"DSN {dsn.Id}", output.ToString());

        Assert.Equal(0, await QueueCommand.ExecuteAsync(spool, ["bounce", bounceOfBounce.ToString()], false, TextWriter.Null, TextWriter.Null, configuration));
        Assert.Single(spool.List()); // no DSN for a null sender
        Assert.Equal(1, await QueueCommand.ExecuteAsync(spool, ["bounce", bounceOfBounce.ToString()], false, TextWriter.Null, TextWriter.Null, configuration));
    }
}
