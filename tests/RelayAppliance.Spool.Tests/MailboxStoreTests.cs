using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Spool.Tests;

public sealed class MailboxStoreTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static MailboxStore Open(TempSpool temp) => MailboxStore.Open(temp.Options, NullLoggerFactory.Instance, TimeProvider.System);

    private static Func<Stream, CancellationToken, ValueTask> Content(byte[] body) => (stream, ct) => stream.WriteAsync(body, ct);

    private static async Task<byte[]> ReadAsync(MailboxStore store, MessageId id)
    {
        using var stream = new MemoryStream();
        await store.CopyToAsync(id, stream, None);
        return stream.ToArray();
    }

    [Fact]
    public async Task Delivered_messages_are_byte_exact_with_trace_fields_and_survive_reopen()
    {
        using var temp = new TempSpool();
        var big = SpoolTestExtensions.Body(300_000, 1); // several chunks
        var small = Encoding.ASCII.GetBytes("Subject: hi\r\n\r\n.leading dot\r\n");
        MessageId first, second;
        await using (var store = Open(temp))
        {
            first = await store.DeliverAsync("alice@local.test", "bob@example.org", new MessageId(100), 0, Content(small), None);
            second = await store.DeliverAsync("Alice@Local.Test", "", new MessageId(101), 2, Content(big), None);
            await store.DeliverAsync("carol@local.test", "bob@example.org", new MessageId(100), 1, Content(small), None);
        }
        await using (var store = Open(temp))
        {
            var box = store.List("alice@local.test"); // mailbox names are case-insensitive
            Assert.Equal([first, second], box.Select(m => m.Id));
            var trace = "Return-Path: <bob@example.org>\r\nDelivered-To: alice@local.test\r\n"u8.ToArray();
            var firstBody = await ReadAsync(store, first);
            Assert.Equal(trace.Concat(small), firstBody);
            Assert.Equal(trace.Length + small.Length, box[0].Size);
            var secondBody = await ReadAsync(store, second);
            Assert.Equal(big, secondBody[^big.Length..]);
            Assert.StartsWith("Return-Path: <>\r\n", Encoding.ASCII.GetString(secondBody, 0, 20));
            Assert.Equal(secondBody.Length, box[1].Size);
            Assert.Equal(box[0].Size + box[1].Size, store.UsedBytes("alice@local.test"));
            Assert.Single(store.List("carol@local.test"));
            Assert.Empty(store.List("nobody@local.test"));
        }
    }

    [Fact]
    public async Task A_repeated_delivery_of_the_same_queue_recipient_is_stored_once_also_after_reopen()
    {
        using var temp = new TempSpool();
        var body = Encoding.ASCII.GetBytes("Subject: once\r\n\r\nbody\r\n");
        MessageId id;
        await using (var store = Open(temp))
        {
            id = await store.DeliverAsync("alice@local.test", "bob@example.org", new MessageId(7), 3, Content(body), None);
            Assert.Equal(id, await store.DeliverAsync("alice@local.test", "bob@example.org", new MessageId(7), 3, Content(body), None));
        }
        await using (var store = Open(temp))
        {
            // As after a crash between the mailbox commit and the queue's journal: the retry finds the first copy.
            Assert.Equal(id, await store.DeliverAsync("alice@local.test", "bob@example.org", new MessageId(7), 3, Content(body), None));
            Assert.Single(store.List("alice@local.test"));
        }
    }

    [Fact]
    public async Task Deletes_are_durable_in_one_batch_and_only_touch_the_owners_messages()
    {
        using var temp = new TempSpool();
        var ids = new List<MessageId>();
        MessageId carols;
        await using (var store = Open(temp))
        {
            for (int i = 0; i < 5; i++)
                ids.Add(await store.DeliverAsync("alice@local.test", "s@example.org", new MessageId(50), i, Content(SpoolTestExtensions.Body(100, i)), None));
            carols = await store.DeliverAsync("carol@local.test", "s@example.org", new MessageId(51), 0, Content([1, 2, 3]), None);

            Assert.Equal(2, await store.DeleteAsync("alice@local.test", [ids[1], ids[3], carols], None));
            Assert.Equal([ids[0], ids[2], ids[4]], store.List("alice@local.test").Select(m => m.Id));
            Assert.Equal(store.List("alice@local.test").Sum(m => m.Size), store.UsedBytes("alice@local.test")); // quota total follows
            Assert.Equal(ids[2].ToString(), store.List("alice@local.test")[1].Uid);
            Assert.Equal(0, await store.DeleteAsync("alice@local.test", [ids[1]], None)); // already gone
        }
        await using (var store = Open(temp))
        {
            Assert.Equal([ids[0], ids[2], ids[4]], store.List("alice@local.test").Select(m => m.Id));
            Assert.Equal([carols], store.List("carol@local.test").Select(m => m.Id));
            Assert.Equal(store.List("carol@local.test")[0].Size, store.UsedBytes("carol@local.test"));
            await Assert.ThrowsAsync<KeyNotFoundException>(async () => await ReadAsync(store, ids[1]));
        }
    }
}
