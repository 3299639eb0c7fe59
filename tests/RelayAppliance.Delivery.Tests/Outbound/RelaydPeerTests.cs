using System.Text;
using RelayAppliance.Delivery.Outbound;
using static RelayAppliance.Delivery.Tests.Outbound.OutboundTestKit;

namespace RelayAppliance.Delivery.Tests.Outbound;

/// <summary>The outbound client against our own inbound relayd server, read back from its spool.</summary>
public sealed class RelaydPeerTests
{
    private static string Prefix(byte[] spooled, byte[] sent)
    {
        // The receiving relayd prepends its Received header (RFC 5321 §4.4); everything after it is ours, byte-exact.
        Assert.True(spooled.Length > sent.Length);
        Assert.Equal(sent, spooled[^sent.Length..]);
        var header = Encoding.ASCII.GetString(spooled[..^sent.Length]);
        Assert.StartsWith("Received: from client.test ", header);
        Assert.EndsWith("\r\n", header);
        return header;
    }

    [Fact]
    public async Task DeliversByteExactThroughDotStuffing()
    {
        await using var relay = await OutboundRelayFixture.StartAsync();
        var body = "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n.\r\n\r\n.last";
        await using (var connection = await ConnectAsync(relay.EndPoint))
        {
            Assert.True(connection.Capabilities.Pipelining);
            var result = await connection.SendAsync(Message(Encoding.ASCII.GetBytes(body), ["bob@localhost"], piece: 3), CancellationToken.None);
            Assert.Equal(250, Assert.Single(result.RecipientReplies).Code);
            Assert.StartsWith("2.0.0 Ok: queued as", result.RecipientReplies[0].Text);
        }
        var header = Prefix(await relay.SingleBodyAsync(), Encoding.ASCII.GetBytes(body + "\r\n"));
        Assert.Contains("with ESMTP", header);
    }

    [Fact]
    public async Task LargeEightBitBodyRoundTrips()
    {
        await using var relay = await OutboundRelayFixture.StartAsync();
        var text = new StringBuilder("Subject: big\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        for (var i = 0; text.Length < 300_000; i++)
        {
            text.Append(i % 3 == 0 ? "." : "").Append("Zeile größer ").Append(i).Append(new string('x', i % 200)).Append("\r\n");
        }
        var body = Encoding.UTF8.GetBytes(text.ToString());
        await using (var connection = await ConnectAsync(relay.EndPoint))
        {
            var result = await connection.SendAsync(Message(body, ["bob@localhost"], piece: 4099, eightBit: true), CancellationToken.None);
            Assert.True(Assert.Single(result.RecipientReplies).IsPositive);
        }
        Prefix(await relay.SingleBodyAsync(), body);
        Assert.True(Assert.Single(relay.Spool.List()).EightBitMime);
    }

    [Fact]
    public async Task FiveMessagesOverOneConnection()
    {
        await using var relay = await OutboundRelayFixture.StartAsync();
        await using (var connection = await ConnectAsync(relay.EndPoint))
        {
            for (var i = 0; i < 5; i++)
            {
                var result = await connection.SendAsync(Message($"Subject: {i}\r\n\r\nbody {i}\r\n", "bob@localhost", "carol@relay.test"), CancellationToken.None);
                Assert.All(result.RecipientReplies, r => Assert.Equal(250, r.Code));
            }
            Assert.Equal(5, connection.TransactionsSent);
            Assert.True(connection.IsUsable);
        }
        Assert.Equal(5, relay.Spool.GetStats().Messages);
        Assert.Equal(10, relay.Spool.GetStats().Recipients);
    }

    [Fact]
    public async Task RefusedRecipientGetsItsOwnReplyAndTheNextTransactionStillWorks()
    {
        await using var relay = await OutboundRelayFixture.StartAsync();
        await using var connection = await ConnectAsync(relay.EndPoint);
        // Trusted clients may relay, but a malformed recipient path is refused by the server.
        var result = await connection.SendAsync(Message("x\r\n", "bob@localhost", "not an address", "carol@relay.test"), CancellationToken.None);
        Assert.Equal(250, result.RecipientReplies[0].Code);
        Assert.True(result.RecipientReplies[1].IsPermanent);
        Assert.Equal(250, result.RecipientReplies[2].Code);
        var only = await connection.SendAsync(Message("y\r\n", "not an address"), CancellationToken.None);
        Assert.True(Assert.Single(only.RecipientReplies).IsPermanent);
        var next = await connection.SendAsync(Message("z\r\n", "bob@localhost"), CancellationToken.None);
        Assert.Equal(250, Assert.Single(next.RecipientReplies).Code);
        Assert.Equal(2, relay.Spool.GetStats().Messages);
    }

    [Fact]
    public async Task SizeOverTheServersLimitIsRefusedLocally()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(maxMessageSize: 1000);
        await using var connection = await ConnectAsync(relay.EndPoint);
        var result = await connection.SendAsync(Message(new string('x', 1001), "bob@localhost"), CancellationToken.None);
        var reply = Assert.Single(result.RecipientReplies);
        Assert.Equal(552, reply.Code);
        Assert.StartsWith("5.3.4", reply.Text);
        Assert.Equal(0, connection.TransactionsSent);
        Assert.True(connection.IsUsable);
    }

    [Theory]
    [InlineData(TlsPolicy.Opportunistic)]
    [InlineData(TlsPolicy.Required)]
    public async Task StartTlsThenDeliver(TlsPolicy policy)
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: true);
        await using (var connection = await ConnectAsync(relay.EndPoint, policy))
        {
            Assert.True(connection.IsTls);
            Assert.False(connection.Capabilities.StartTls); // the post-TLS EHLO no longer offers it
            var result = await connection.SendAsync(Message("Subject: tls\r\n\r\nsecret\r\n", "bob@localhost"), CancellationToken.None);
            Assert.Equal(250, Assert.Single(result.RecipientReplies).Code);
        }
        Assert.Contains("with ESMTPS", Prefix(await relay.SingleBodyAsync(), "Subject: tls\r\n\r\nsecret\r\n"u8.ToArray()));
        Assert.True(Assert.Single(relay.Spool.List()).Tls);
    }

    [Fact]
    public async Task NoTlsWhenThePolicySaysNone()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: true);
        await using var connection = await ConnectAsync(relay.EndPoint, TlsPolicy.None);
        Assert.False(connection.IsTls);
        Assert.True(connection.Capabilities.StartTls);
    }

    [Fact]
    public async Task CertificateCallbackCanRejectTheServer()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: true);
        var options = Options() with { ValidateCertificate = (_, _, _) => false };
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(relay.EndPoint, TlsPolicy.Opportunistic, options: options));
        Assert.Contains("TLS handshake failed", e.Message);
    }

    [Fact]
    public async Task RequiredTlsAgainstAServerWithoutStartTlsThrows()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: false);
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(relay.EndPoint, TlsPolicy.Required));
        Assert.Contains("STARTTLS", e.Message);
        Assert.Null(e.Reply);
    }

    [Fact]
    public async Task AuthPlainAfterStartTls()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: true);
        relay.Users.SetPassword("alice@local.test", "s3cret pass", iterations: 1000);
        await using (var connection = await ConnectAsync(relay.EndPoint, TlsPolicy.Required, new SmtpCredentials("alice@local.test", "s3cret pass")))
        {
            var result = await connection.SendAsync(Message("Subject: auth\r\n\r\nhi\r\n", "bob@localhost"), CancellationToken.None);
            Assert.Equal(250, Assert.Single(result.RecipientReplies).Code);
        }
        Assert.Equal("alice@local.test", Assert.Single(relay.Spool.List()).AuthenticatedUser);
    }

    [Fact]
    public async Task WrongPasswordThrowsWithTheReply()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: true);
        relay.Users.SetPassword("alice@local.test", "right", iterations: 1000);
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(
            () => ConnectAsync(relay.EndPoint, TlsPolicy.Opportunistic, new SmtpCredentials("alice@local.test", "wrong")));
        Assert.Equal(535, e.Reply?.Code);
    }

    [Fact]
    public async Task CredentialsAreNotSentWithoutTlsUnlessThePolicyIsNone()
    {
        await using var relay = await OutboundRelayFixture.StartAsync(tls: false);
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(
            () => ConnectAsync(relay.EndPoint, TlsPolicy.Opportunistic, new SmtpCredentials("alice@local.test", "pw")));
        Assert.Contains("plaintext", e.Message);
    }
}
