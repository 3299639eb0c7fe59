using System.Text;
using RelayAppliance.Delivery.Local;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>Local recipients go to their mailboxes through the same scheduler as remote ones.</summary>
public sealed class LocalDeliveryTests
{
    private static readonly Dictionary<string, string> Mailboxes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["alice@local.test"] = "alice@local.test",
        ["sales@local.test"] = "alice@local.test", // an alias
        ["carol@local.test"] = "carol@local.test",
    };

    private static LocalDelivery Local(MailboxStore store, long quota = 0) => new(store, Mailboxes.GetValueOrDefault, quota);

    private static string Read(MailboxStore store, MailboxMessage message)
    {
        using var stream = new MemoryStream();
        store.CopyToAsync(message.Id, stream, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task LocalAndRemoteRecipientsOfOneMessageAreDeliveredAndAnAliasGetsNoSecondCopy()
    {
        await using var h = new DeliveryHarness();
        var peer = h.Peer("127.0.0.61");
        var store = h.OpenMailboxes();
        h.Start(o => DeliveryHarness.Transport(o, "remote.test", peer), local: Local(store));
        var content = Encoding.UTF8.GetBytes("Subject: both\r\n\r\n.dot line\r\n8bit: \u00e9\r\n");
        var id = await h.QueueAsync("bob@remote.test", ["alice@local.test", "bob@remote.test", "sales@local.test", "carol@local.test"], content);

        await h.WaitForAsync(() => h.Spool.Find(id) is null, "every recipient to be final");
        var alice = Assert.Single(store.List("alice@local.test"));
        Assert.Equal("Return-Path: <bob@remote.test>\r\nDelivered-To: alice@local.test\r\n" + Encoding.UTF8.GetString(content), Read(store, alice));
        Assert.Single(store.List("carol@local.test"));
        Assert.Single(peer.Messages);
    }

    [Fact]
    public async Task AnUnknownLocalRecipientBouncesAndTheBounceLandsInTheSendersMailbox()
    {
        await using var h = new DeliveryHarness();
        var store = h.OpenMailboxes();
        h.Start(local: Local(store));
        var id = await h.QueueAsync("alice@local.test", "ghost@local.test"); // e.g. a user removed after RCPT

        await h.WaitForAsync(() => h.Spool.Find(id) is null && h.Spool.List().Count == 0 && store.List("alice@local.test").Count == 1,
            "the bounce in alice's mailbox");
        var report = Read(store, store.List("alice@local.test")[0]);
        Assert.StartsWith("Return-Path: <>\r\nDelivered-To: alice@local.test\r\n", report);
        Assert.Contains("Final-Recipient: rfc822; ghost@local.test", report);
        Assert.Contains("Status: 5.1.1", report);
    }

    [Fact]
    public async Task AFullMailboxDefersAndAMessageLargerThanTheQuotaBounces()
    {
        await using var h = new DeliveryHarness();
        var store = h.OpenMailboxes();
        h.Start(local: Local(store, quota: 300));
        var small = await h.QueueAsync("", ["carol@local.test"], new byte[150]);
        await h.WaitForAsync(() => h.Spool.Find(small) is null, "the first message to fit");

        var second = await h.QueueAsync("", ["carol@local.test"], new byte[200]); // 150 + trace + 200 > 300
        var deferred = await h.WaitForDeferralAsync(second, attempts: 1);
        Assert.StartsWith("452 4.2.2", deferred.LastResult);

        var huge = await h.QueueAsync("", ["carol@local.test"], new byte[400]);
        await h.WaitForAsync(() => h.Spool.Find(huge) is null, "the oversized message to fail");
        Assert.Single(store.List("carol@local.test"));
    }

    [Fact]
    public async Task WithRemoteDeliveryOffLocalRecipientsAreStillDeliveredAndRelayedMailIsHeld()
    {
        await using var h = new DeliveryHarness();
        var peer = h.Peer("127.0.0.62");
        var store = h.OpenMailboxes();
        h.Start(o => DeliveryHarness.Transport(o, "remote.test", peer) with { RemoteEnabled = false }, local: Local(store));

        var remoteOnly = await h.QueueAsync("bob@remote.test", "dave@remote.test");
        var mixed = await h.QueueAsync("bob@remote.test", "carol@local.test", "dave@remote.test");

        await h.WaitForAsync(() => store.List("carol@local.test").Count == 1, "carol's copy");
        await h.WaitForAsync(() => h.Recipient(mixed, 0).State == RecipientState.Delivered, "carol journaled as delivered");
        Assert.Equal(RecipientState.Queued, h.Recipient(mixed, 1).State);
        Assert.Equal(RecipientState.Queued, h.Recipient(remoteOnly).State);
        Assert.Equal(0, h.Recipient(remoteOnly).Attempts);
        Assert.Empty(peer.Messages);
    }
}
