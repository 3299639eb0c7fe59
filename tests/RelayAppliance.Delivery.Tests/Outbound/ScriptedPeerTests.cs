using System.Text;
using RelayAppliance.Delivery.Outbound;
using static RelayAppliance.Delivery.Tests.Outbound.OutboundTestKit;

namespace RelayAppliance.Delivery.Tests.Outbound;

/// <summary>Edge cases against a scripted peer (<see cref="FakeSmtpServer"/>).</summary>
public sealed class ScriptedPeerTests
{
    private static readonly string[] NoPipelining = ["SIZE 100000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"];

    private static string[] Verbs(FakeSmtpServer server) =>
        server.Commands.Select(c => c.Split(' ', ':')[0]).ToArray();

    [Fact]
    public async Task PipeliningSendsTheEnvelopeInOneWrite()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full);
        await using (var connection = await ConnectAsync(server.EndPoint))
        {
            var result = await connection.SendAsync(Message("a\r\n", "b@x.test", "c@x.test"), CancellationToken.None);
            Assert.All(result.RecipientReplies, r => Assert.Equal(250, r.Code));
        }
        Assert.True(server.SawPipelinedCommands);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"], Verbs(server));
        Assert.Equal("MAIL FROM:<alice@example.org> SIZE=3", server.Commands.ElementAt(1));
    }

    [Fact]
    public async Task WithoutPipeliningCommandsGoInLockStep()
    {
        await using var server = new FakeSmtpServer(NoPipelining);
        await using (var connection = await ConnectAsync(server.EndPoint))
        {
            for (var i = 0; i < 2; i++)
            {
                var result = await connection.SendAsync(Message(".x\r\n", "b@x.test", "c@x.test"), CancellationToken.None);
                Assert.All(result.RecipientReplies, r => Assert.Equal(250, r.Code));
            }
        }
        Assert.False(server.SawPipelinedCommands);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"], Verbs(server));
        Assert.All(server.Messages, m => Assert.Equal("..x\r\n", Encoding.ASCII.GetString(m)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RefusedRecipientKeepsItsReply(bool pipelining)
    {
        await using var server = new FakeSmtpServer(pipelining ? FakeSmtpServer.Full : NoPipelining)
        {
            Respond = line => line.Contains("<bad@x.test>", StringComparison.Ordinal) ? "550 5.1.1 No such user" : null,
            DataEndReply = "250 2.0.0 queued as 42",
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test", "bad@x.test", "c@x.test"), CancellationToken.None);
        Assert.Equal([250, 550, 250], result.RecipientReplies.Select(r => r.Code));
        Assert.Equal("5.1.1 No such user", result.RecipientReplies[1].Text);
        Assert.Equal("2.0.0 queued as 42", result.RecipientReplies[0].Text);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MailRefusedTransientlyMakesEveryRecipientTransient(bool pipelining)
    {
        await using var server = new FakeSmtpServer(pipelining ? FakeSmtpServer.Full : NoPipelining)
        {
            Respond = line => line.StartsWith("MAIL", StringComparison.Ordinal) ? "451 4.3.0 Try later"
                : line.StartsWith("RCPT", StringComparison.Ordinal) || line == "DATA" ? "503 5.5.1 Need MAIL first" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test", "c@x.test"), CancellationToken.None);
        Assert.All(result.RecipientReplies, r => Assert.Equal(new SmtpReply(451, "4.3.0 Try later"), r));
        Assert.All(result.RecipientReplies, r => Assert.True(r.IsTransient));
        Assert.True(connection.IsUsable);
        Assert.Empty(server.Messages);
        if (!pipelining)
        {
            Assert.Equal(["EHLO", "MAIL"], Verbs(server));
        }
    }

    [Fact]
    public async Task EndOfDataRefusalDecidesEveryAcceptedRecipient()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full) { DataEndReply = "554 5.7.1 Spam" };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test", "c@x.test"), CancellationToken.None);
        Assert.All(result.RecipientReplies, r => Assert.True(r.IsPermanent));
        Assert.All(result.RecipientReplies, r => Assert.Equal("5.7.1 Spam", r.Text));
        Assert.True(connection.IsUsable);
    }

    [Fact]
    public async Task NoRecipientAcceptedWithPipeliningThenRsetBeforeTheNextTransaction()
    {
        var refuse = true;
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => !refuse ? null
                : line.StartsWith("RCPT", StringComparison.Ordinal) ? "550 5.1.1 No"
                : line == "DATA" ? "554 5.5.1 No valid recipients" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None);
        Assert.Equal(550, Assert.Single(result.RecipientReplies).Code);
        refuse = false;
        var next = await connection.SendAsync(Message("b\r\n", "b@x.test"), CancellationToken.None);
        Assert.Equal(250, Assert.Single(next.RecipientReplies).Code);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"], Verbs(server));
        Assert.Equal("b\r\n", Encoding.ASCII.GetString(Assert.Single(server.Messages)));
    }

    [Fact]
    public async Task DataAcceptedDespiteNoRecipientsGetsAnEmptyMessage()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => line.StartsWith("RCPT", StringComparison.Ordinal) ? "450 4.2.0 Busy" : null,
            DataEndReply = "554 5.5.1 No recipients",
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None);
        Assert.Equal(450, Assert.Single(result.RecipientReplies).Code);
        Assert.Empty(Assert.Single(server.Messages));
        Assert.True(connection.IsUsable);
    }

    [Fact]
    public async Task ObsoleteTooManyRecipients552IsTreatedAsTransient()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => line.Contains("<c@x.test>", StringComparison.Ordinal) ? "552 Too many recipients" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("a\r\n", "b@x.test", "c@x.test"), CancellationToken.None);
        Assert.Equal([250, 452], result.RecipientReplies.Select(r => r.Code));
    }

    [Fact]
    public async Task HeloFallbackWhenEhloIsRefused()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => line.StartsWith("EHLO", StringComparison.Ordinal) ? "500 5.5.1 What?" : null,
        };
        await using (var connection = await ConnectAsync(server.EndPoint))
        {
            Assert.False(connection.Capabilities.Esmtp);
            var result = await connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None);
            Assert.Equal(250, Assert.Single(result.RecipientReplies).Code);
        }
        Assert.Equal(["EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT"], Verbs(server));
        Assert.Equal("HELO client.test", server.Commands.ElementAt(1));
        Assert.Equal("MAIL FROM:<alice@example.org>", server.Commands.ElementAt(2)); // no ESMTP parameters
        Assert.False(server.SawPipelinedCommands);
    }

    [Theory]
    [InlineData(true, false, 554, "5.6.3")]
    [InlineData(false, true, 554, "5.6.7")]
    public async Task EightBitOrUtf8ToAServerWithoutTheExtensionIsRefusedLocally(bool eightBit, bool utf8, int code, string status)
    {
        await using var server = new FakeSmtpServer("PIPELINING", "SIZE 100000");
        await using var connection = await ConnectAsync(server.EndPoint);
        var message = Message("Subject: größe\r\n\r\nü\r\n"u8.ToArray(), ["b@x.test", "c@x.test"], eightBit: eightBit, utf8: utf8);
        var result = await connection.SendAsync(message, CancellationToken.None);
        Assert.All(result.RecipientReplies, r => Assert.Equal(code, r.Code));
        Assert.All(result.RecipientReplies, r => Assert.StartsWith(status, r.Text));
        Assert.Equal(["EHLO"], Verbs(server)); // nothing sent
        Assert.Equal(0, connection.TransactionsSent);
    }

    [Fact]
    public async Task EightBitAndUtf8ParametersWhenOffered()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full);
        await using var connection = await ConnectAsync(server.EndPoint);
        var message = Message("ü\r\n"u8.ToArray(), ["bö@x.test"], eightBit: true, utf8: true, sender: "");
        Assert.Equal(250, Assert.Single((await connection.SendAsync(message, CancellationToken.None)).RecipientReplies).Code);
        Assert.Equal("MAIL FROM:<> SIZE=4 BODY=8BITMIME SMTPUTF8", server.Commands.ElementAt(1));
        Assert.Equal("RCPT TO:<bö@x.test>", server.Commands.ElementAt(2));
    }

    [Fact]
    public async Task SizeOverTheDeclaredLimitIsRefusedLocally()
    {
        await using var server = new FakeSmtpServer("PIPELINING", "SIZE 10");
        await using var connection = await ConnectAsync(server.EndPoint);
        var result = await connection.SendAsync(Message("01234567890\r\n", "b@x.test"), CancellationToken.None);
        Assert.Equal(552, Assert.Single(result.RecipientReplies).Code);
        Assert.StartsWith("5.3.4", result.RecipientReplies[0].Text);
        Assert.Equal(["EHLO"], Verbs(server));
    }

    [Fact]
    public async Task GreetingRefusalThrowsWithTheReply()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full) { Greeting = "554-fake.test go away\r\n554 5.7.1 No service" };
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(server.EndPoint));
        Assert.Equal(554, e.Reply?.Code);
        Assert.Equal("fake.test go away\r\n5.7.1 No service", e.Reply?.Text);
    }

    [Fact]
    public async Task RequiredTlsWithoutStartTlsThrows()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full);
        await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(server.EndPoint, TlsPolicy.Required));
        await using var plain = await ConnectAsync(server.EndPoint, TlsPolicy.Opportunistic);
        Assert.False(plain.IsTls);
    }

    [Fact]
    public async Task RefusedStartTlsContinuesInPlaintextOnlyWhenOpportunistic()
    {
        await using var server = new FakeSmtpServer([.. FakeSmtpServer.Full, "STARTTLS"])
        {
            Respond = line => line == "STARTTLS" ? "454 4.7.0 TLS not available" : null,
        };
        await using (var connection = await ConnectAsync(server.EndPoint, TlsPolicy.Opportunistic))
        {
            Assert.False(connection.IsTls);
            Assert.Equal(250, Assert.Single((await connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None)).RecipientReplies).Code);
        }
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(server.EndPoint, TlsPolicy.Required));
        Assert.Equal(454, e.Reply?.Code);
    }

    [Fact]
    public async Task ServerClosingMidTransactionBreaksTheConnection()
    {
        await using var server = new FakeSmtpServer(NoPipelining)
        {
            Respond = line => line.StartsWith("RCPT", StringComparison.Ordinal) ? FakeSmtpServer.Close : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        await Assert.ThrowsAsync<OutboundProtocolException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
        Assert.False(connection.IsUsable);
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
    }

    [Fact]
    public async Task ServiceClosing421IsAnExceptionWithTheReply()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => line.StartsWith("RCPT", StringComparison.Ordinal) ? "421 4.3.2 Shutting down" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
        Assert.Equal(new SmtpReply(421, "4.3.2 Shutting down"), e.Reply);
        Assert.False(connection.IsUsable);
    }

    [Fact]
    public async Task GarbageReplyBreaksTheConnection()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full)
        {
            Respond = line => line.StartsWith("MAIL", StringComparison.Ordinal) ? "hello there" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint);
        await Assert.ThrowsAsync<OutboundProtocolException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
        Assert.False(connection.IsUsable);
    }

    [Fact]
    public async Task StalledGreetingTimesOut()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full) { Greeting = FakeSmtpServer.Stall };
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(server.EndPoint, options: Options(TimeSpan.FromMilliseconds(300))));
        Assert.Contains("No reply within", e.Message);
    }

    [Fact]
    public async Task StalledEndOfDataTimesOut()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full) { DataEndReply = FakeSmtpServer.Stall };
        var options = Options() with { DataTerminationTimeout = TimeSpan.FromMilliseconds(300) };
        await using var connection = await ConnectAsync(server.EndPoint, options: options);
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
        Assert.IsAssignableFrom<OperationCanceledException>(e.InnerException);
        Assert.False(connection.IsUsable);
    }

    [Fact]
    public async Task StalledRcptTimesOut()
    {
        await using var server = new FakeSmtpServer(NoPipelining)
        {
            Respond = line => line.StartsWith("RCPT", StringComparison.Ordinal) ? FakeSmtpServer.Stall : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint, options: Options() with { CommandTimeout = TimeSpan.FromMilliseconds(300) });
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), CancellationToken.None));
        Assert.Contains("No reply within", e.Message);
        Assert.False(connection.IsUsable);
    }

    [Fact]
    public async Task RefusedConnectionThrows()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var endPoint = (System.Net.IPEndPoint)listener.LocalEndpoint;
        listener.Stop();
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(endPoint));
        Assert.Contains("Cannot connect", e.Message);
    }

    [Fact]
    public async Task DisposeSendsQuit()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full);
        await (await ConnectAsync(server.EndPoint)).DisposeAsync();
        Assert.Equal(["EHLO", "QUIT"], Verbs(server));
    }

    [Fact]
    public async Task AuthLoginWhenPlainIsNotOfferedAndPolicyIsNone()
    {
        var user = Convert.ToBase64String("carol"u8);
        var password = Convert.ToBase64String("pw"u8);
        await using var server = new FakeSmtpServer([.. FakeSmtpServer.Full, "AUTH LOGIN"])
        {
            Respond = line => line == "AUTH LOGIN" ? "334 VXNlcm5hbWU6" : line == user ? "334 UGFzc3dvcmQ6" : line == password ? "235 2.7.0 Ok" : null,
        };
        await using (var connection = await ConnectAsync(server.EndPoint, TlsPolicy.None, new SmtpCredentials("carol", "pw")))
        {
            Assert.True(connection.IsUsable);
        }
        Assert.Equal(["EHLO", "AUTH", user, password, "QUIT"], Verbs(server));
    }

    [Fact]
    public async Task AuthPlainSendsAnInitialResponse()
    {
        var expected = "AUTH PLAIN " + Convert.ToBase64String("\0carol\0pw"u8);
        await using var server = new FakeSmtpServer([.. FakeSmtpServer.Full, "AUTH=LOGIN PLAIN"])
        {
            Respond = line => line == expected ? "235 2.7.0 Ok" : line.StartsWith("AUTH", StringComparison.Ordinal) ? "535 5.7.8 No" : null,
        };
        await using var connection = await ConnectAsync(server.EndPoint, TlsPolicy.None, new SmtpCredentials("carol", "pw"));
        Assert.Equal(expected, server.Commands.ElementAt(1));
    }

    [Fact]
    public async Task DataAfterTheStartTlsReplyIsRefused()
    {
        // RFC 3207 §4.2: a reply injected ahead of the handshake must not be read as coming from inside TLS.
        await using var server = new FakeSmtpServer([.. FakeSmtpServer.Full, "STARTTLS"])
        {
            Respond = line => line == "STARTTLS" ? "220 2.0.0 Go ahead\r\n250 injected" : null,
        };
        var e = await Assert.ThrowsAsync<OutboundProtocolException>(() => ConnectAsync(server.EndPoint, TlsPolicy.Opportunistic));
        Assert.Contains("TLS", e.Message);
    }

    [Fact]
    public async Task FailingBodySourceBreaksTheConnection()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full);
        await using var connection = await ConnectAsync(server.EndPoint);
        var message = new OutboundMessage("a@x.test", ["b@x.test"], 10, false, false, (_, _) => throw new IOException("spool read failed"));
        await Assert.ThrowsAsync<IOException>(() => connection.SendAsync(message, CancellationToken.None));
        Assert.False(connection.IsUsable);
    }

    [Fact]
    public async Task CallerCancellationIsNotAProtocolFailureButBreaksTheConnection()
    {
        await using var server = new FakeSmtpServer(FakeSmtpServer.Full) { DataEndReply = FakeSmtpServer.Stall };
        await using var connection = await ConnectAsync(server.EndPoint);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.SendAsync(Message("a\r\n", "b@x.test"), cancel.Token));
        Assert.False(connection.IsUsable);
    }
}
