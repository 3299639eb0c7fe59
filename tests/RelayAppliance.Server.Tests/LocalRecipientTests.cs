using RelayAppliance.Server.Accounts;

namespace RelayAppliance.Server.Tests;

/// <summary>RCPT TO for local domains when mailboxes are on: unknown users are refused at once, quota is checked.</summary>
public sealed class LocalRecipientTests
{
    private static readonly Dictionary<string, long> Used = new(StringComparer.OrdinalIgnoreCase) { ["full@local.test"] = 1000 };

    private static Task<RelayFixture> StartAsync() => RelayFixture.StartAsync(trusted: false, mailboxes: users =>
    {
        users.SetPassword("alice@localhost", "pw", 1000);
        users.SetPassword("full@local.test", "pw", 1000);
        return new MailboxDirectory(users, ["localhost", "local.test"],
            new Dictionary<string, string> { ["sales@local.test"] = "alice@localhost" },
            new Dictionary<string, string> { ["catch.local.test"] = "alice@localhost" },
            mailbox => Used.GetValueOrDefault(mailbox), quotaBytes: 1000);
    });

    [Theory]
    [InlineData("<alice@localhost>", "250 2.1.5")]
    [InlineData("<ALICE@LocalHost>", "250 2.1.5")]
    [InlineData("<sales@local.test>", "250 2.1.5")]        // alias
    [InlineData("<postmaster@local.test>", "250 2.1.5")]   // always exists (RFC 5321 §4.5.1)
    [InlineData("<Postmaster>", "250 2.1.5")]
    [InlineData("<nobody@localhost>", "550 5.1.1")]        // no backscatter: refused at RCPT
    [InlineData("<full@local.test>", "452 4.2.2")]
    [InlineData("<x@elsewhere.test>", "554 5.7.1")]        // still no open relay
    public async Task LocalRecipientsNeedAMailbox(string recipient, string expected)
    {
        await using var relay = await StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        var reply = await client.CommandAsync("RCPT TO:" + recipient);
        Assert.True(reply.StartsWith(expected, StringComparison.Ordinal), reply);
    }

    [Fact]
    public async Task AMessageDeclaredLargerThanTheQuotaIsRefusedPermanently()
    {
        await using var relay = await StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(relay.Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=5000"));
        Assert.StartsWith("552 5.2.2", await client.CommandAsync("RCPT TO:<alice@localhost>"));
        // The transaction goes on for recipients that do fit.
        Assert.StartsWith("250", await client.CommandAsync("RSET"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=500"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@localhost>"));
        Assert.StartsWith("452 4.2.2", await client.CommandAsync("RCPT TO:<full@local.test>"));
    }

    [Fact]
    public void DirectoryResolvesAliasesUsersPostmasterAndCatchAll()
    {
        var directory = Path.Combine(Path.GetTempPath(), "relay-dir-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(directory);
        try
        {
            var users = new UserStore(directory);
            users.SetPassword("alice@localhost", "pw", 1000);
            var mailboxes = new MailboxDirectory(users, ["localhost"], new Dictionary<string, string> { ["Sales@LocalHost"] = "alice@localhost" },
                new Dictionary<string, string> { ["catch.test"] = "alice@localhost" }, _ => 0, 0);
            Assert.Equal("alice@localhost", mailboxes.Resolve("sales@localhost"));
            Assert.Equal("alice@localhost", mailboxes.Resolve("alice@localhost"));
            Assert.Equal("postmaster@localhost", mailboxes.Resolve("PostMaster@LOCALHOST"));
            Assert.Equal("postmaster@localhost", mailboxes.Resolve("Postmaster"));
            Assert.Equal("alice@localhost", mailboxes.Resolve("anyone@catch.test"));
            Assert.Null(mailboxes.Resolve("bob@localhost"));
            Assert.Equal(LocalRecipientVerdict.Accept, mailboxes.Check("alice@localhost", long.MaxValue)); // quota 0: unlimited
            users.Remove("alice@localhost");
            Assert.Null(mailboxes.Resolve("alice@localhost")); // a removed user stops receiving at once
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
