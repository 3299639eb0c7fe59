using System.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace RelayAppliance.Spool.Tests;

/// <summary>A temp spool folder per test, deleted afterwards; helpers to write messages the way a session does.</summary>
internal sealed class TempSpool : IDisposable
{
    public TempSpool(SpoolTuning? tuning = null, long freeSpaceFloor = 0)
    {
        Directory = Path.Combine(Path.GetTempPath(), "relay-spool-tests", Guid.NewGuid().ToString("n"));
        System.IO.Directory.CreateDirectory(Directory);
        Options = new SpoolOptions { Directory = Directory, FreeSpaceFloorBytes = freeSpaceFloor, Tuning = tuning ?? SpoolTuning.Small };
    }

    public string Directory { get; }
    public SpoolOptions Options { get; }

    public string JournalDir => Path.Combine(Directory, "journal");
    public string BodiesDir => Path.Combine(Directory, "bodies");

    public MessageSpool Open() => MessageSpool.Open(Options, NullLoggerFactory.Instance, TimeProvider.System);

    public static int SegmentFileCount(string logDirectory) =>
        System.IO.Directory.GetFiles(logDirectory, "log.*").Length;

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class SpoolTestExtensions
{
    public static byte[] Body(int size, int seed)
    {
        var body = new byte[size];
        new Random(seed).NextBytes(body);
        return body;
    }

    public static async Task<MessageId> AcceptAsync(this MessageSpool spool, byte[] body, string sender = "alice@example.org",
        string[]? recipients = null, BodyWriter? writer = null, EnvelopeBuilder? envelope = null)
    {
        writer ??= spool.CreateBodyWriter();
        envelope ??= new EnvelopeBuilder();
        envelope.Reset();
        envelope.SetSession("192.0.2.7", "client.example.org", "alice", tls: true);
        envelope.SetSender(Encoding.UTF8.GetBytes(sender), smtpUtf8: false, eightBitMime: true);
        foreach (var r in recipients ?? ["bob@example.net"])
            envelope.AddRecipient(Encoding.UTF8.GetBytes(r), r.EndsWith("@local.test", StringComparison.Ordinal) ? RecipientRoute.Local : RecipientRoute.Remote);
        await WriteBodyAsync(writer, body);
        return await spool.AcceptAsync(writer, envelope, CancellationToken.None);
    }

    /// <summary>Writes in uneven pieces, as a DATA un-stuffer would.</summary>
    public static async Task WriteBodyAsync(BodyWriter writer, byte[] body)
    {
        int at = 0;
        while (at < body.Length)
        {
            if (writer.IsFull)
                await writer.FlushChunkAsync(CancellationToken.None);
            var span = writer.GetSpan();
            int n = Math.Min(Math.Min(span.Length, 1000 + (at % 7000)), body.Length - at);
            body.AsSpan(at, n).CopyTo(span);
            writer.Advance(n);
            at += n;
        }
    }

    public static async Task<byte[]> ReadBodyAsync(this MessageSpool spool, MessageId id)
    {
        using var stream = new MemoryStream();
        await spool.CopyBodyToAsync(id, stream, CancellationToken.None);
        return stream.ToArray();
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }
}
