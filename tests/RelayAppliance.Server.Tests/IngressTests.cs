using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using RelayAppliance.Spool;

namespace RelayAppliance.Server.Tests;

public sealed class IngressTests
{
    private static MimeMessage Message(string to = "bob@localhost", string body = "Hello Bob")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.org"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "test";
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    private static string Body(RelayFixture relay, MessageId id)
    {
        using var stream = new MemoryStream();
        relay.Spool.CopyBodyToAsync(id, stream, CancellationToken.None).AsTask().Wait();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task MailKitMessageIsQueuedWithEnvelopeAndTraceHeader()
    {
        await using var relay = await RelayFixture.StartAsync();
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.None);
        var response = await client.SendAsync(Message(body: "line one\r\n.leading dot\r\n"));
        await client.DisconnectAsync(true);

        Assert.Contains("queued as", response);
        var queued = Assert.Single(relay.Spool.List());
        Assert.Equal("alice@example.org", queued.Sender);
        var recipient = Assert.Single(queued.Recipients);
        Assert.Equal("bob@localhost", recipient.Address);
        Assert.Equal(RecipientRoute.Local, recipient.Route);
        Assert.Equal(RecipientState.Queued, recipient.State);
        var body = Body(relay, queued.Id);
        Assert.StartsWith("Received: from ", body);
        Assert.Contains($"by {RelayFixture.Hostname} (RelayAppliance) with ESMTP", body);
        Assert.Contains("\r\n.leading dot\r\n", body); // un-stuffed exactly once
        Assert.EndsWith("\r\n", body);
        Assert.Equal(body.Length, queued.Size);
    }

    [Fact]
    public async Task PipelinedTransactionInOnePacketIsAnsweredInOrder()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        await client.SendAsync("EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@localhost>\r\nRCPT TO:<c@relay.test>\r\nDATA\r\n");
        var ehlo = await client.ReadReplyAsync();
        Assert.Contains("250-PIPELINING", ehlo);
        Assert.Contains("CHUNKING", ehlo);
        Assert.StartsWith("250 2.1.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("354", await client.ReadReplyAsync());
        await client.SendAsync("Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<d@example.org>\r\nRCPT TO:<e@localhost>\r\nDATA\r\n");
        Assert.StartsWith("250 2.0.0 Ok: queued as ", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("354", await client.ReadReplyAsync());
        await client.SendAsync("second\r\n.\r\nQUIT\r\n");
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync());
        Assert.StartsWith("221 2.0.0", await client.ReadReplyAsync());
        Assert.Equal(2, relay.Spool.GetStats().Messages);
        Assert.Equal(3, relay.Spool.GetStats().Recipients);
    }

    [Fact]
    public async Task BdatChunksAreJoinedIntoOneMessage()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        await client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@localhost>\r\nBDAT 14\r\nSubject: x\r\n\r\nBDAT 8 LAST\r\n.dot\r\n\r\n");
        Assert.StartsWith("250 2.1.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0 Ok: queued as", await client.ReadReplyAsync());
        var queued = Assert.Single(relay.Spool.List());
        Assert.EndsWith("Subject: x\r\n\r\n.dot\r\n\r\n", Body(relay, queued.Id)); // BDAT content is never un-stuffed
    }

    [Fact]
    public async Task BdatOutOfSequenceIsReadAndRefusedWithoutDesynchronising()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        await client.SendAsync("BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n");
        Assert.StartsWith("503", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.ReadReplyAsync()); // the NOOP after the 6 chunk bytes
        Assert.Empty(relay.Spool.List());
    }

    [Fact]
    public async Task RsetAndDroppedConnectionLeaveNothingQueued()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using (var client = await RawSmtpClient.ConnectAsync(relay.Port))
        {
            Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
            Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@localhost>"));
            Assert.StartsWith("250", await client.CommandAsync("RSET"));
            Assert.StartsWith("503", await client.CommandAsync("DATA"));
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
            Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@localhost>"));
            Assert.StartsWith("354", await client.CommandAsync("DATA"));
            await client.SendAsync("Subject: half a message\r\n\r\n" + new string('x', 200_000));
        }
        await Task.Delay(300);
        Assert.Empty(relay.Spool.List());
    }

    [Fact]
    public async Task CommandsOutOfSequenceGet503AndVerbsHaveTheirReplies()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("250 " + RelayFixture.Hostname, await client.CommandAsync("HELO c"));
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("RCPT TO:<b@localhost>"));
        Assert.StartsWith("252 2.1.5", await client.CommandAsync("VRFY bob"));
        Assert.StartsWith("502 5.5.1", await client.CommandAsync("EXPN list"));
        Assert.StartsWith("214", await client.CommandAsync("HELP"));
        Assert.StartsWith("250", await client.CommandAsync("noop"));
        Assert.StartsWith("500 5.5.2", await client.CommandAsync("FOO bar"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("554 5.5.1", await client.CommandAsync("DATA"));
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task NullSenderAndPostmasterAreAccepted()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<Postmaster>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("Subject: bounce\r\n\r\nx\r\n."));
        var queued = Assert.Single(relay.Spool.List());
        Assert.Equal("", queued.Sender);
    }
}

public sealed class LargeMessageTests
{
    [Theory]
    [InlineData(65_000)]
    [InlineData(131_024)]
    [InlineData(1_500_000)]
    [InlineData(4_000_000)]
    public async Task BodiesAcrossManyChunksArriveByteExact(int approximateSize)
    {
        await using var relay = await RelayFixture.StartAsync(configure: o => o with { MaxMessageSize = 5_000_000 });
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        var random = new Random(approximateSize);
        var content = new StringBuilder("Subject: big\r\n\r\n");
        while (content.Length < approximateSize)
        {
            var line = new string((char)('a' + random.Next(26)), random.Next(0, 998));
            content.Append(random.Next(10) == 0 ? "." + line : line).Append("\r\n"); // some lines need dot-stuffing
        }
        var stuffed = content.ToString().Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        await client.SendAsync(stuffed + ".\r\n");
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync());

        var queued = Assert.Single(relay.Spool.List());
        using var body = new MemoryStream();
        await relay.Spool.CopyBodyToAsync(queued.Id, body, CancellationToken.None);
        var stored = Encoding.ASCII.GetString(body.ToArray());
        Assert.EndsWith(content.ToString(), stored);
        Assert.Equal(stored.Length, queued.Size);
    }
}
