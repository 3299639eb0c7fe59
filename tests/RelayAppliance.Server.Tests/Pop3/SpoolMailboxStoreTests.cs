using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>The POP3 maildrop contract over the durable mailbox spool (what relayd runs).</summary>
public sealed class SpoolMailboxStoreTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-maildrop-" + Guid.NewGuid().ToString("n"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private MailboxStore Open() => MailboxStore.Open(new SpoolOptions { Directory = _directory, FreeSpaceFloorBytes = 0 },
        NullLoggerFactory.Instance, TimeProvider.System);

    private static ValueTask<MessageId> DeliverAsync(MailboxStore store, byte[] content, int index) =>
        store.DeliverAsync("alice@localhost", "bob@example.org", new MessageId(1000), index,
            (stream, ct) => stream.WriteAsync(content, ct), None);

    private static async Task<byte[]> ReadAsync(IMaildrop drop, int index)
    {
        await using var stream = await drop.OpenMessageAsync(index, None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task UidsAndSizesAreStableAcrossRestartsAndQuitDeletesDurably()
    {
        string[] uids;
        await using (var store = Open())
        {
            for (var i = 0; i < 3; i++)
            {
                await DeliverAsync(store, RandomNumberGenerator.GetBytes(1000 + i), i);
            }
            var pop = new SpoolMailboxStore(store);
            var drop = (await pop.TryOpenAsync("ALICE@localhost", None))!; // login names are case-insensitive
            Assert.Null(await pop.TryOpenAsync("alice@LOCALHOST", None)); // RFC 1939 §8: exclusive
            uids = drop.Messages.Select(m => m.Uid).ToArray();
            Assert.Equal(3, uids.Distinct().Count());
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(drop.Messages[i].Size, (await ReadAsync(drop, i)).Length);
            }
            await drop.CommitDeletionsAsync([1], None);
            await drop.DisposeAsync();
            Assert.NotNull(await pop.TryOpenAsync("alice@localhost", None)); // released
        }
        await using (var store = Open())
        {
            var drop = (await new SpoolMailboxStore(store).TryOpenAsync("alice@localhost", None))!;
            Assert.Equal([uids[0], uids[2]], drop.Messages.Select(m => m.Uid));
        }
    }

    [Fact]
    public async Task ATwentyMegabyteMessageIsReadBackByteExactAndAnEmptyMailboxOpens()
    {
        var big = RandomNumberGenerator.GetBytes(20 * 1024 * 1024);
        await using var store = Open();
        await DeliverAsync(store, big, 0);
        var pop = new SpoolMailboxStore(store);
        await using var drop = (await pop.TryOpenAsync("alice@localhost", None))!;
        var read = await ReadAsync(drop, 0);
        Assert.Equal(drop.Messages[0].Size, read.Length);
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(read.AsSpan(read.Length - big.Length)));
        await using var empty = (await pop.TryOpenAsync("carol@localhost", None))!;
        Assert.Empty(empty.Messages);
    }
}
