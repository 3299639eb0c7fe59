using System.Text;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Delivery.Tests.Outbound;
using RelayAppliance.Spool;
using static RelayAppliance.Delivery.Tests.Scheduling.DeliveryHarness;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>What the delivery service puts on the wire, seen by a scripted peer: connection reuse, 8-bit and SMTPUTF8.</summary>
public sealed class DeliveryServiceWireTests : IAsyncLifetime
{
    private readonly DeliveryHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task ManyMessagesShareAFewConnectionsWithRsetOnlyAfterAnAbortedTransaction()
    {
        var peer = _h.Peer("127.0.0.81", respond: line => line.StartsWith("RCPT TO:<nobody@", StringComparison.Ordinal) ? "550 5.1.1 No such user" : null);
        _h.Start(o => Transport(o, "partner.test", peer) with { PerDestination = new ConcurrencyOptions { Initial = 3, Limit = 3 } });
        // First a refused transaction, so that the connection it leaves in the cache needs a reset.
        var refused = await _h.QueueAsync("a@local.test", "nobody@partner.test");
        await _h.WaitForAsync(() => _h.Spool.Find(refused) is null, "the refusal and its bounce");
        var ids = new List<MessageId>();
        for (var i = 0; i < 29; i++)
        {
            ids.Add(await _h.QueueAsync("a@local.test", $"user{i}@partner.test"));
        }

        await _h.WaitForAsync(() => ids.All(id => _h.Spool.Find(id) is null), "all 29 to be delivered");
        // The peer took the pipelined DATA after the refused RCPT, so that transaction sent it an empty message.
        Assert.Equal(29, peer.Messages.Count(m => m.Length > 0));
        Assert.Equal(30, Count(peer, "MAIL"));
        Assert.InRange(peer.Connections, 1, 3); // at most the destination's window; the clock never idles them out
        Assert.Equal(peer.Connections, Count(peer, "EHLO")); // a reused connection is not greeted again
        // RFC 5321 §3.3: a transaction ends with the reply to the final dot, so the next MAIL follows directly; only
        // the transaction left open by the refused RCPT (RFC 2920 §3.1: DATA was pipelined) needs RSET.
        Assert.Equal(1, Count(peer, "RSET"));
        Assert.Equal(0, Count(peer, "QUIT"));
    }

    private static readonly byte[] EightBitBody =
    [
        .. "From: a@local.test\r\nSubject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"u8,
        .. "Gr\u00fc\u00dfe, \u00e7a va\r\n"u8, 0xE9, 0xFF, 0x80, (byte)'\r', (byte)'\n', // and bytes that are not UTF-8 at all
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EightBitAndUtf8MailReachesAPeerOfferingTheExtensionByteForByte(bool utf8)
    {
        var peer = _h.Peer("127.0.0.82");
        _h.Start(o => Transport(o, "partner.test", peer));
        var (sender, recipient) = utf8 ? ("j\u00f6rg@local.test", "zo\u00eb@partner.test") : ("a@local.test", "bob@partner.test");
        var id = await _h.QueueAsync(sender, [recipient], EightBitBody, eightBitMime: true, smtpUtf8: utf8);

        await _h.WaitForAsync(() => _h.Spool.Find(id) is null, "the delivery");
        Assert.Equal(EightBitBody, Assert.Single(peer.Messages));
        var mail = Assert.Single(peer.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Equal($"MAIL FROM:<{sender}> SIZE={EightBitBody.Length} BODY=8BITMIME" + (utf8 ? " SMTPUTF8" : ""), mail);
        Assert.Contains($"RCPT TO:<{recipient}>", peer.Commands);
    }

    [Theory]
    [InlineData(false, "5.6.3")]
    [InlineData(true, "5.6.7")]
    public async Task EightBitOrUtf8MailIsBouncedRatherThanSentToAPeerWithoutTheExtension(bool utf8, string status)
    {
        // 8-bit without 8BITMIME (RFC 6152 §3) or SMTPUTF8 without SMTPUTF8 (RFC 6531 §3.2): we do not downgrade.
        string[] extensions = utf8 ? ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] : ["PIPELINING", "SMTPUTF8", "ENHANCEDSTATUSCODES"];
        var peer = _h.Peer("127.0.0.83", extensions: extensions);
        _h.Start(o => Transport(o, "partner.test", peer));
        var (sender, recipient) = utf8 ? ("j\u00f6rg@local.test", "zo\u00eb@partner.test") : ("a@local.test", "bob@partner.test");
        // The local recipient keeps the message queued after the remote one's final result.
        var id = await _h.QueueAsync(sender, [recipient, "me@local.test"], EightBitBody, eightBitMime: true, smtpUtf8: utf8);

        await _h.WaitForAsync(() => _h.Recipient(id).State == RecipientState.Failed, "the refusal");
        Assert.StartsWith("554 " + status, _h.Recipient(id).LastResult);
        Assert.Equal(0, Count(peer, "MAIL"));
        Assert.Empty(peer.Messages);
        var bounce = Assert.Single(_h.Spool.List(), m => m.Id != id);
        Assert.Equal(sender, Assert.Single(bounce.Recipients).Address);
        Assert.Contains("Status: " + status, _h.Body(bounce.Id));
    }
}
