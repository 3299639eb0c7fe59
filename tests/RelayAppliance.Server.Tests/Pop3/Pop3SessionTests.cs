using System.Text;
using RelayAppliance.Server.Pop3;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>Exact wire behaviour of the POP3 session through a raw socket client.</summary>
public sealed class Pop3SessionTests
{
    private static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    [Fact]
    public async Task StatListUidlAndRetrAreExactOnTheWire()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var uid1 = pop.Store.Deliver(Pop3Fixture.Alice, Pop3MailKitTests.DottedMessage);
        var uid2 = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: x\r\n\r\nno final line end");
        var size1 = Pop3MailKitTests.DottedMessage.Length;
        var size2 = "Subject: x\r\n\r\nno final line end".Length;
        await using var client = await RawPop3Client.LoginAsync(pop.Port);

        Assert.Equal($"+OK 2 {size1 + size2}", await client.CommandAsync("STAT"));
        var (status, list) = await client.MultilineCommandAsync("LIST");
        Assert.Equal($"+OK 2 messages ({size1 + size2} octets)", status);
        Assert.Equal($"1 {size1}\r\n2 {size2}\r\n.\r\n", Latin1(list));
        Assert.Equal($"+OK 2 {size2}", await client.CommandAsync("LIST 2"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("LIST 3"));
        var (uidlStatus, uidl) = await client.MultilineCommandAsync("uidl");
        Assert.StartsWith("+OK", uidlStatus);
        Assert.Equal($"1 {uid1}\r\n2 {uid2}\r\n.\r\n", Latin1(uidl));
        Assert.Equal($"+OK 1 {uid1}", await client.CommandAsync("UIDL 1"));

        var (retrStatus, retr) = await client.MultilineCommandAsync("RETR 1");
        Assert.Equal($"+OK {size1} octets", retrStatus);
        Assert.Equal("From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n.\r\n", Latin1(retr));
        var (_, retr2) = await client.MultilineCommandAsync("RETR 2");
        Assert.Equal("Subject: x\r\n\r\nno final line end\r\n.\r\n", Latin1(retr2)); // the missing CRLF is added before the terminator
        Assert.Equal("+OK bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task EightBitAndLongLinesAreSentUnchanged()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var message = Pop3MailKitTests.EightBitLongLineMessage();
        pop.Store.Deliver(Pop3Fixture.Alice, message);
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        var (_, body) = await client.MultilineCommandAsync("RETR 1");
        var expected = Latin1(message).Replace("\r\n.y", "\r\n..y", StringComparison.Ordinal) + ".\r\n";
        Assert.Equal(expected, Latin1(body));
    }

    [Theory]
    [InlineData("TOP 1 0", "From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n.\r\n")]
    [InlineData("TOP 1 2", "From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n..leading dot\r\n...two dots\r\n.\r\n")]
    [InlineData("top 1 99", "From: a@example.org\r\nTo: alice@localhost\r\nSubject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n.\r\n")]
    public async Task TopSendsHeaderBlankLineAndNBodyLines(string command, string expected)
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, Pop3MailKitTests.DottedMessage);
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        var (status, body) = await client.MultilineCommandAsync(command);
        Assert.StartsWith("+OK", status);
        Assert.Equal(expected, Latin1(body));
    }

    [Fact]
    public async Task DeleMarksRsetUnmarksAndDeletedMessagesAreHidden()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        pop.Store.Deliver(Pop3Fixture.Alice, "bb\r\n");
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        Assert.Equal("+OK message deleted", await client.CommandAsync("DELE 1"));
        Assert.Equal("-ERR message already deleted", await client.CommandAsync("DELE 1"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("DELE 3"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("RETR 1"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("TOP 1 0"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("LIST 1"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("UIDL 1"));
        Assert.Equal("+OK 1 4", await client.CommandAsync("STAT"));
        var (_, list) = await client.MultilineCommandAsync("LIST");
        Assert.Equal("2 4\r\n.\r\n", Latin1(list)); // message numbers do not shift (RFC 1939 §5)
        Assert.StartsWith("+OK", await client.CommandAsync("RSET"));
        Assert.Equal("+OK 2 7", await client.CommandAsync("STAT"));
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 2"));
        Assert.Equal("+OK bye", await client.CommandAsync("QUIT"));
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
    }

    [Fact]
    public async Task AClientThatHalfClosesGetsItsAnswersButNoUpdate()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        await client.SendAsync($"USER {Pop3Fixture.Alice}\r\nPASS {Pop3Fixture.AlicePassword}\r\nDELE 1\r\nSTAT\r\n");
        client.ShutdownSend();
        Assert.Equal("+OK send PASS", await client.ReadLineAsync());
        Assert.Equal("+OK maildrop locked and ready", await client.ReadLineAsync());
        Assert.Equal("+OK message deleted", await client.ReadLineAsync());
        Assert.Equal("+OK 0 0", await client.ReadLineAsync());
        Assert.True(await client.IsClosedAsync());
        await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
    }

    [Fact]
    public async Task AFailedCommitAnswersSysTempAndRemovesNothing()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        pop.Store.FailCommits = true;
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"));
        Assert.StartsWith("-ERR [SYS/TEMP] ", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedAsync());
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
        await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
    }

    [Fact]
    public async Task AStoreThatCannotOpenAnswersSysTemp()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.FailOpens = true;
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.StartsWith("-ERR [SYS/TEMP] ", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        pop.Store.FailOpens = false;
        Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.StartsWith("+OK", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
    }

    [Fact]
    public async Task ConcurrentLoginGetsInUseAndQuitWithoutTransactionIsFine()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        await using var first = await RawPop3Client.LoginAsync(pop.Port);
        await using var second = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.StartsWith("+OK", await second.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.StartsWith("-ERR [IN-USE] ", await second.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        Assert.Equal("-ERR command not valid in this state", await second.CommandAsync("STAT"));
        Assert.Equal("+OK bye", await second.CommandAsync("QUIT"));
        Assert.True(await second.IsClosedAsync());
    }

    [Fact]
    public async Task WrongPasswordUnknownUserAndBadSequence()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS x"));
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("PASS wrong"));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword)); // USER again first
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER nobody@localhost"));
        Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("+OK", await client.CommandAsync("CAPA").ContinueWith(t => t.Result[..3]));
        await client.ReadMultilineAsync();
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword)); // PASS must follow USER at once
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("-ERR unknown command", await client.CommandAsync("XYZZY"));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword)); // an unknown command counts too
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("+OK maildrop locked and ready", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("AUTH PLAIN"));
        Assert.Equal("+OK 0 0", await client.CommandAsync("STAT"));
    }

    [Fact]
    public async Task PasswordWithSpacesAndAuthPlainExchanges()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Users.SetPassword("carol@localhost", "two words ", iterations: 1000);
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            Assert.StartsWith("+OK", await client.CommandAsync("USER carol@localhost"));
            Assert.StartsWith("+OK", await client.CommandAsync("PASS two words "));
        }
        await pop.Store.WaitUnlockedAsync("carol@localhost");

        static string Plain(string authzid, string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{authzid}\0{user}\0{password}"));
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            var (mechanisms, body) = await client.MultilineCommandAsync("AUTH");
            Assert.Equal("+OK", mechanisms);
            Assert.Equal("PLAIN\r\n.\r\n", Latin1(body));
            Assert.Equal("-ERR unsupported authentication mechanism", await client.CommandAsync("AUTH CRAM-MD5"));
            Assert.Equal("+ ", await client.CommandAsync("AUTH PLAIN"));
            Assert.Equal("-ERR authentication cancelled", await client.CommandAsync("*"));
            Assert.Equal("+ ", await client.CommandAsync("AUTH PLAIN"));
            Assert.Equal("-ERR cannot decode response", await client.CommandAsync("not base64!"));
            Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("AUTH PLAIN " + Plain("", Pop3Fixture.Alice, "wrong")));
            Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("AUTH PLAIN " + Plain(Pop3Fixture.Bob, Pop3Fixture.Alice, Pop3Fixture.AlicePassword)));
            Assert.Equal("-ERR cannot decode response", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("no nul"u8.ToArray())));
            Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("AUTH PLAIN " + Plain("", "alice@localhost\r\nforged log line", "x")));
            Assert.Equal("+ ", await client.CommandAsync("AUTH PLAIN"));
            Assert.Equal("+OK maildrop locked and ready", await client.CommandAsync(Plain(Pop3Fixture.Alice, Pop3Fixture.Alice, Pop3Fixture.AlicePassword)));
        }
        await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            Assert.Equal("+OK maildrop locked and ready", await client.CommandAsync("AUTH PLAIN " + Plain("", Pop3Fixture.Bob, Pop3Fixture.BobPassword)));
            Assert.Equal("+OK 0 0", await client.CommandAsync("STAT"));
        }
    }

    [Fact]
    public async Task PasswordsNeverReachTheLog()
    {
        var log = new CapturingLoggerProvider();
        await using var pop = await Pop3Fixture.StartAsync(logging: log);
        const string wrong = "Wr0ng-Pa55w0rd-Marker";
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
            Assert.StartsWith("-ERR [AUTH]", await client.CommandAsync("PASS " + wrong));
            Assert.StartsWith("-ERR [AUTH]", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{Pop3Fixture.Alice}\0{wrong}"))));
            Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
            Assert.StartsWith("+OK maildrop", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
            Assert.StartsWith("+OK", await client.CommandAsync("QUIT"));
        }
        Assert.Contains(log.Lines, l => l.StartsWith("1104 ", StringComparison.Ordinal) && l.Contains(Pop3Fixture.Alice, StringComparison.Ordinal)); // failures are logged
        Assert.Contains(log.Lines, l => l.StartsWith("1106 ", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, l => l.Contains(wrong, StringComparison.Ordinal) || l.Contains(Pop3Fixture.AlicePassword, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CapaDependsOnTlsAndPolicy()
    {
        await using var pop = await Pop3Fixture.StartAsync(tls: true, configure: o => o with { AllowPlaintextAuth = PlaintextAuthPolicy.Never });
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        var (status, capa) = await client.MultilineCommandAsync("CAPA");
        Assert.Equal("+OK capability list follows", status);
        Assert.Equal("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\nIMPLEMENTATION RelayAppliance\r\n.\r\n", Latin1(capa));
        Assert.Equal("-ERR plaintext authentication disallowed without TLS, use STLS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.Equal("-ERR plaintext authentication disallowed without TLS, use STLS", await client.CommandAsync("AUTH PLAIN"));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        Assert.Equal("+OK begin TLS negotiation", await client.CommandAsync("STLS"));
        await client.StartTlsAsync();
        (_, capa) = await client.MultilineCommandAsync("CAPA");
        Assert.Equal("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION RelayAppliance\r\n.\r\n", Latin1(capa));
        Assert.Equal("-ERR already using TLS", await client.CommandAsync("STLS"));
        Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.StartsWith("+OK maildrop", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
    }

    [Fact]
    public async Task LoopbackMayUsePlaintextAuthByDefaultAndStlsIsUnavailableWithoutACertificate()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        var (_, capa) = await client.MultilineCommandAsync("CAPA");
        Assert.Contains("USER\r\nSASL PLAIN\r\n", Latin1(capa));
        Assert.DoesNotContain("STLS", Latin1(capa));
        Assert.Equal("-ERR STLS not available", await client.CommandAsync("STLS"));
    }

    [Fact]
    public async Task CommandsPipelinedAfterStlsAreDiscarded()
    {
        await using var pop = await Pop3Fixture.StartAsync(tls: true, configure: o => o with { AllowPlaintextAuth = PlaintextAuthPolicy.Always });
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        // The injected USER/PASS ride in the same packet as STLS: they must not run inside the TLS session.
        await client.SendAsync("STLS\r\nUSER " + Pop3Fixture.Bob + "\r\nPASS " + Pop3Fixture.BobPassword + "\r\n");
        Assert.Equal("+OK begin TLS negotiation", await client.ReadLineAsync());
        await client.StartTlsAsync();
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword)); // USER forgotten (RFC 2595 §4)
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("STAT"));
        Assert.False(pop.Store.IsLocked(Pop3Fixture.Bob));
    }

    [Fact]
    public async Task PipelinedCommandsAreAnsweredInOrder()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 1\r\n\r\n.x\r\n");
        pop.Store.Deliver(Pop3Fixture.Alice, "Subject: 2\r\n\r\ny\r\n");
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        await client.SendAsync($"USER {Pop3Fixture.Alice}\r\nPASS {Pop3Fixture.AlicePassword}\r\nSTAT\r\nRETR 1\r\nTOP 2 0\r\nLIST 2\r\nDELE 1\r\nNOOP\r\nQUIT\r\n");
        Assert.Equal("+OK send PASS", await client.ReadLineAsync());
        Assert.Equal("+OK maildrop locked and ready", await client.ReadLineAsync());
        Assert.Equal("+OK 2 35", await client.ReadLineAsync());
        Assert.Equal("+OK 18 octets", await client.ReadLineAsync());
        Assert.Equal("Subject: 1\r\n\r\n..x\r\n.\r\n", Latin1(await client.ReadMultilineAsync()));
        Assert.Equal("+OK message follows", await client.ReadLineAsync());
        Assert.Equal("Subject: 2\r\n\r\n.\r\n", Latin1(await client.ReadMultilineAsync()));
        Assert.Equal("+OK 2 17", await client.ReadLineAsync());
        Assert.Equal("+OK message deleted", await client.ReadLineAsync());
        Assert.Equal("+OK", await client.ReadLineAsync());
        Assert.Equal("+OK bye", await client.ReadLineAsync());
        Assert.True(await client.IsClosedAsync());
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
    }

    [Fact]
    public async Task LongPipelinedBatchesWithLinesAcrossBufferSegmentsAreAnsweredInOrder()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{Pop3Fixture.Alice}\0{Pop3Fixture.AlicePassword}"));
        var batch = new StringBuilder();
        for (var i = 0; i < 680; i++) batch.Append("AUTH\r\n"); // 4080 octets: the next line straddles a 4 KiB buffer
        batch.Append("AUTH PLAIN ").Append(plain).Append("\r\n");
        for (var i = 0; i < 1000; i++) batch.Append("UIDL 01\r\n");
        batch.Append("QUIT\r\n");
        await client.SendAsync(batch.ToString());
        for (var i = 0; i < 680; i++)
        {
            Assert.Equal("+OK", await client.ReadLineAsync());
            Assert.Equal("PLAIN\r\n.\r\n", Latin1(await client.ReadMultilineAsync()));
        }
        Assert.Equal("+OK maildrop locked and ready", await client.ReadLineAsync());
        var uid = pop.Store.Uids(Pop3Fixture.Alice)[0];
        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal($"+OK 1 {uid}", await client.ReadLineAsync());
        }
        Assert.Equal("+OK bye", await client.ReadLineAsync());
    }

    [Fact]
    public async Task AStoreFailureInsideRetrClosesWithoutTheTerminator()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.DeliverGenerated(Pop3Fixture.Alice, 100_000, () => new FailingStream(failAfter: 40_000));
        pop.Store.DeliverGenerated(Pop3Fixture.Alice, 100_000, () => new MemoryStream(new byte[50_000])); // shorter than its Size
        foreach (var number in new[] { 1, 2 })
        {
            await using var client = await RawPop3Client.LoginAsync(pop.Port);
            Assert.Equal("+OK 100000 octets", await client.CommandAsync("RETR " + number));
            var received = new MemoryStream();
            await client.DrainAsync(long.MaxValue, received);
            Assert.True(received.Length < 100_000, $"message {number}: {received.Length} octets");
            Assert.False(Latin1(received.ToArray()).EndsWith("\r\n.\r\n", StringComparison.Ordinal), $"message {number} looked complete");
            await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
        }
    }

    /// <summary>Yields zeros, then throws like a failing disk.</summary>
    private sealed class FailingStream(int failAfter) : MemoryStream(new byte[failAfter])
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => Position < Length ? base.ReadAsync(buffer, cancellationToken) : throw new IOException("disk error");
    }

    [Fact]
    public async Task SyntaxErrorsGetReplies()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        Assert.Equal("-ERR unknown command", await client.CommandAsync("XYZZY"));
        Assert.Equal("-ERR unknown command", await client.CommandAsync("APOP alice 0123456789abcdef0123456789abcdef"));
        Assert.Equal("-ERR syntax error in arguments", await client.CommandAsync("RETR"));
        Assert.Equal("-ERR syntax error in arguments", await client.CommandAsync("RETR -1"));
        Assert.Equal("-ERR syntax error in arguments", await client.CommandAsync("TOP 1"));
        Assert.Equal("-ERR syntax error in arguments", await client.CommandAsync("STAT 1"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("RETR 0"));
        Assert.Equal("-ERR no such message", await client.CommandAsync("RETR 4294967297"));
        Assert.Equal("-ERR bare CR in command line", await client.CommandAsync("NO\rOP"));
        Assert.Equal("+OK", await client.CommandAsync("noop"));
        await client.SendAsync("NOOP\n"); // a bare LF ends a line too
        Assert.Equal("+OK", await client.ReadLineAsync());
    }

    [Fact]
    public async Task ALineOver512OctetsIsRefusedAndTheSessionContinues()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.Equal("-ERR line too long", await client.CommandAsync("USER " + new string('a', 600)));
        Assert.Equal("-ERR line too long", await client.CommandAsync("USER " + new string('a', 20_000)));
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + new string('a', 505))); // 512 with CRLF
        Assert.Equal("+OK send PASS", await client.CommandAsync("USER " + Pop3Fixture.Alice));
        Assert.StartsWith("+OK maildrop", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
    }

    [Fact]
    public async Task TheBadCommandBudgetClosesTheSession()
    {
        await using var pop = await Pop3Fixture.StartAsync(configure: o => o with { MaxBadCommands = 3 });
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        Assert.Equal("-ERR unknown command", await client.CommandAsync("HELO"));
        Assert.Equal("-ERR command not valid in this state", await client.CommandAsync("STAT"));
        Assert.Equal("-ERR too many errors, closing connection", await client.CommandAsync("EHLO"));
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task FailedLoginsAreRateLimitedPerClientAddress()
    {
        await using var pop = await Pop3Fixture.StartAsync(configure: o => o with { MaxFailedLoginsPerClient = 2, FailedLoginDelay = TimeSpan.Zero });
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
            Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("PASS wrong1"));
        }
        await using (var client = await RawPop3Client.ConnectAsync(pop.Port))
        {
            Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
            Assert.Equal("-ERR [AUTH] invalid user name or password", await client.CommandAsync("PASS wrong2"));
            Assert.StartsWith("+OK", await client.CommandAsync("USER " + Pop3Fixture.Alice));
            // Now even the right password is refused unchecked from this address until the window passes.
            Assert.Equal("-ERR [AUTH] too many failed logins, try again later", await client.CommandAsync("PASS " + Pop3Fixture.AlicePassword));
        }
        Assert.False(pop.Store.IsLocked(Pop3Fixture.Alice));
    }

    [Fact]
    public async Task ConnectionsBeyondTheLimitAreRefused()
    {
        await using var pop = await Pop3Fixture.StartAsync(configure: o => o with { MaxConnections = 1 });
        await using var first = await RawPop3Client.ConnectAsync(pop.Port);
        await using var second = await RawPop3Client.ConnectAsync(pop.Port, readGreeting: false);
        Assert.StartsWith("-ERR [SYS/TEMP] ", await second.ReadLineAsync());
        Assert.True(await second.IsClosedAsync());
        Assert.Equal("+OK send PASS", await first.CommandAsync("USER " + Pop3Fixture.Alice));
    }

    [Fact]
    public async Task ConnectionsBeyondThePerClientLimitAreRefused()
    {
        await using var pop = await Pop3Fixture.StartAsync(configure: o => o with { MaxConnectionsPerClient = 1 });
        await using (var first = await RawPop3Client.ConnectAsync(pop.Port))
        {
            await using var second = await RawPop3Client.ConnectAsync(pop.Port, readGreeting: false);
            Assert.StartsWith("-ERR [SYS/TEMP] ", await second.ReadLineAsync());
            Assert.Equal("+OK bye", await first.CommandAsync("QUIT"));
        }
        // The count goes down once the first session has unwound: a new connection is then greeted again.
        var greeting = "";
        for (var i = 0; i < 100 && !greeting.StartsWith("+OK", StringComparison.Ordinal); i++)
        {
            await Task.Delay(20);
            await using var third = await RawPop3Client.ConnectAsync(pop.Port, readGreeting: false);
            greeting = await third.ReadLineAsync();
        }
        Assert.StartsWith("+OK", greeting);
    }

    [Fact]
    public async Task AnIdleSessionIsClosedSilentlyAfterTenMinutesAndCommitsNothing()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var pop = await Pop3Fixture.StartAsync(time: time);
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"));
        await Task.Delay(200); // let the session get back to its read (and arm the timer)
        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal("+OK", await client.CommandAsync("NOOP"));
        await Task.Delay(200);
        time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        // RFC 1939 §3: autologout closes without a response and without entering UPDATE.
        await Assert.ThrowsAsync<IOException>(() => client.ReadLineAsync());
        await pop.Store.WaitUnlockedAsync(Pop3Fixture.Alice);
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
    }

    [Fact]
    public async Task ShutdownSaysSysTempAndCommitsNothing()
    {
        var pop = await Pop3Fixture.StartAsync();
        pop.Store.Deliver(Pop3Fixture.Alice, "a\r\n");
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"));
        await pop.DisposeAsync();
        Assert.Equal("-ERR [SYS/TEMP] server shutting down", await client.ReadLineAsync());
        Assert.True(await client.IsClosedAsync());
        Assert.Single(pop.Store.Uids(Pop3Fixture.Alice));
        Assert.False(pop.Store.IsLocked(Pop3Fixture.Alice));
    }
}
