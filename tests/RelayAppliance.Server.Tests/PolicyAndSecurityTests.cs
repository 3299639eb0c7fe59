using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace RelayAppliance.Server.Tests;

public sealed class PolicyAndSecurityTests
{
    [Theory]
    [InlineData("<bob@localhost>", "250 2.1.5")]
    [InlineData("<BOB@LOCAL.TEST>", "250 2.1.5")]
    [InlineData("<x@relay.test>", "250 2.1.5")]
    [InlineData("<x@deep.sub.relay.test>", "250 2.1.5")]
    [InlineData("<x@elsewhere.test>", "554 5.7.1")]
    [InlineData("<x@sub.relay.test.evil.test>", "554 5.7.1")]
    [InlineData("<user%elsewhere.test@localhost>", "554 5.7.1")]
    [InlineData("<elsewhere.test!user@localhost>", "554 5.7.1")]
    [InlineData("<\"user@elsewhere.test\"@localhost>", "554 5.7.1")]
    [InlineData("<@localhost:user@elsewhere.test>", "554 5.7.1")]
    [InlineData("<@localhost,@local.test:user@elsewhere.test>", "554 5.7.1")]
    [InlineData("<user@[192.0.2.1]>", "554 5.7.1")]
    [InlineData("<user@localhost.>", "554 5.7.1")]
    public async Task UntrustedClientCannotRelay(string recipient, string expected)
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        var reply = await client.CommandAsync("RCPT TO:" + recipient);
        Assert.True(reply.StartsWith(expected, StringComparison.Ordinal) || expected == "554 5.7.1" && reply.StartsWith("501", StringComparison.Ordinal),
            $"{recipient}: {reply}");
    }

    [Fact]
    public async Task TrustedClientRelaysAnywhere()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: true);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("250 2.1.5", await client.CommandAsync("RCPT TO:<x@elsewhere.test>"));
    }

    [Fact]
    public async Task AuthIsRefusedOnPlaintextAndNotAdvertised()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false, tls: true);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        var ehlo = await client.CommandAsync("EHLO c");
        Assert.Contains("STARTTLS", ehlo);
        Assert.DoesNotContain("AUTH", ehlo);
        Assert.StartsWith("538 5.7.11", await client.CommandAsync("AUTH PLAIN AGJvYgBzZWNyZXQ="));
    }

    [Fact]
    public async Task StartTlsThenAuthLetsAnUntrustedClientRelay()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false, tls: true);
        relay.Users.SetPassword("bob@local.test", "correct horse", iterations: 1000);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@local.test"));
        message.To.Add(MailboxAddress.Parse("carol@elsewhere.test"));
        message.Body = new TextPart("plain") { Text = "relayed" };

        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, CheckCertificateRevocation = false };
        await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.StartTls);
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("bob@local.test", "wrong"));
        await client.AuthenticateAsync("bob@local.test", "correct horse");
        await client.SendAsync(message);
        await client.DisconnectAsync(true);

        var queued = Assert.Single(relay.Spool.List());
        Assert.Equal("bob@local.test", queued.AuthenticatedUser);
        Assert.True(queued.Tls);
        Assert.Equal("carol@elsewhere.test", Assert.Single(queued.Recipients).Address);
    }

    [Fact]
    public async Task AuthLoginOverImplicitTls()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: false, tls: true);
        relay.Users.SetPassword("dave", "pw", iterations: 1000);
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, CheckCertificateRevocation = false };
        await client.ConnectAsync("127.0.0.1", relay.ImplicitTlsPort, SecureSocketOptions.SslOnConnect);
        client.AuthenticationMechanisms.Remove("PLAIN");
        await client.AuthenticateAsync("dave", "pw");
        Assert.True(client.IsAuthenticated);
    }

    [Fact]
    public async Task CommandsPipelinedAfterStartTlsAreDiscarded()
    {
        await using var relay = await RelayFixture.StartAsync(trusted: true, tls: true);
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        await client.SendAsync("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n");
        Assert.StartsWith("220 2.0.0", await client.ReadReplyAsync());
        await client.StartTlsAsync();
        // The session was reset by the handshake and the injected MAIL never ran.
        Assert.StartsWith("503", await client.CommandAsync("RCPT TO:<bob@localhost>"));
        var ehlo = await client.CommandAsync("EHLO c");
        Assert.DoesNotContain("STARTTLS", ehlo);
        Assert.Contains("AUTH PLAIN LOGIN", ehlo);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
    }

    [Fact]
    public async Task StartTlsWithoutCertificateIsRefused()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.DoesNotContain("STARTTLS", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("454 4.7.0", await client.CommandAsync("STARTTLS"));
    }

    [Theory]
    [InlineData("body\n.\nMAIL FROM:<x@evil.test>\r\n")]
    [InlineData("body\n.\r\nMAIL FROM:<x@evil.test>\r\n")]
    [InlineData("body\r\n.\nMAIL FROM:<x@evil.test>\r\n")]
    [InlineData("body\r.\r\nMAIL FROM:<x@evil.test>\r\n")]
    [InlineData("body\r\n.\rMAIL FROM:<x@evil.test>\r\n")]
    public async Task SmugglingAttemptsNeverEndDataAndAreRejected(string smuggled)
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        await client.SendAsync(smuggled + "RCPT TO:<c@localhost>\r\nDATA\r\nsecond\r\n.\r\n");
        Assert.StartsWith("550 5.6.0", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("NOOP")); // the session is still in sync
        Assert.Empty(relay.Spool.List());
    }

    [Fact]
    public async Task NormalisePolicyRewritesBareLineEndingsButKeepsTheRealTerminator()
    {
        await using var relay = await RelayFixture.StartAsync(configure: o => o with { BareLineEndings = Smtp.BareLineEndingPolicy.Normalize });
        await using var client = await RawSmtpClient.OpenTransactionAsync(relay.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        await client.SendAsync("one\ntwo\n.\nthree\r\n.\r\n");
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync());
        var queued = Assert.Single(relay.Spool.List());
        using var body = new MemoryStream();
        await relay.Spool.CopyBodyToAsync(queued.Id, body, CancellationToken.None);
        Assert.EndsWith("one\r\ntwo\r\n.\r\nthree\r\n", System.Text.Encoding.ASCII.GetString(body.ToArray()));
    }

    [Fact]
    public async Task BareLineFeedInCommandIsRejected()
    {
        await using var relay = await RelayFixture.StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        await client.SendAsync("EHLO c\n");
        Assert.StartsWith("500 5.5.2", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
    }
}
