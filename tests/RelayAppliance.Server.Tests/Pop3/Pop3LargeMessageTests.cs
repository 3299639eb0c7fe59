using System.Security.Cryptography;
using System.Text;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>A 20 MB message: byte-exact through RETR, and streamed (the session reads the store only as the client reads).</summary>
public sealed class Pop3LargeMessageTests
{
    /// <summary>A 64 KiB block of varied CRLF lines: dot-led lines, 8-bit octets, one long line.</summary>
    private static readonly byte[] Block = BuildBlock();
    private static readonly byte[] Header = "From: a@example.org\r\nSubject: big\r\n\r\n"u8.ToArray();
    private const int Blocks = 320; // 320 × 64 KiB + header ≈ 20.97 MB

    private static byte[] BuildBlock()
    {
        var block = new MemoryStream();
        var line = 0;
        while (block.Length < 64 * 1024 - 6000)
        {
            var text = (line++ % 5) switch
            {
                0 => ".a line that starts with a dot",
                1 => "..two dots",
                2 => "8-bit: \u00e9\u00e8\u00ff",
                3 => new string('L', 4000),
                _ => "an ordinary line",
            };
            block.Write(Encoding.Latin1.GetBytes(text + "\r\n"));
        }
        var padding = 64 * 1024 - (int)block.Length - 2;
        block.Write(Encoding.ASCII.GetBytes(new string('p', padding) + "\r\n"));
        return block.ToArray();
    }

    private static long Size => Header.Length + (long)Block.Length * Blocks;

    /// <summary>The message as a stream that is generated while it is read, never held whole.</summary>
    private sealed class GeneratedMessage : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => Size;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var written = 0;
            while (written < buffer.Length && _position < Size)
            {
                ReadOnlySpan<byte> source = _position < Header.Length
                    ? Header.AsSpan((int)_position)
                    : Block.AsSpan((int)((_position - Header.Length) % Block.Length));
                var take = Math.Min(source.Length, buffer.Length - written);
                source[..take].CopyTo(buffer[written..]);
                written += take;
                _position += take;
            }
            return written;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task TwentyMegabyteRetrIsByteExactWithMailKit()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.DeliverGenerated(Pop3Fixture.Alice, Size, () => new GeneratedMessage(), viaPushCopy: true);
        using var client = new MailKit.Net.Pop3.Pop3Client();
        await client.ConnectAsync("127.0.0.1", pop.Port, MailKit.Security.SecureSocketOptions.None);
        await client.AuthenticateAsync(Pop3Fixture.Alice, Pop3Fixture.AlicePassword);
        Assert.Equal([(int)Size], await client.GetMessageSizesAsync());

        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var reference = new GeneratedMessage())
        {
            var chunk = new byte[81920];
            int read;
            while ((read = reference.Read(chunk)) > 0) expected.AppendData(chunk, 0, read);
        }
        using var received = await client.GetStreamAsync(0);
        using var actual = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        var buffer = new byte[81920];
        int n;
        while ((n = await received.ReadAsync(buffer)) > 0)
        {
            actual.AppendData(buffer, 0, n);
            total += n;
        }
        Assert.Equal(Size, total);
        Assert.Equal(expected.GetHashAndReset(), actual.GetHashAndReset());
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task TopOfAPushCopiedMessageStopsTheCopyEarly()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.DeliverGenerated(Pop3Fixture.Alice, Size, () => new GeneratedMessage(), viaPushCopy: true);
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        var (status, top) = await client.MultilineCommandAsync("TOP 1 2");
        Assert.Equal("+OK message follows", status);
        Assert.Equal("From: a@example.org\r\nSubject: big\r\n\r\n..a line that starts with a dot\r\n...two dots\r\n.\r\n", Encoding.Latin1.GetString(top));
        Assert.Equal($"+OK 1 {Size}", await client.CommandAsync("STAT"));
        Assert.True(pop.Store.LastGeneratedStream!.BytesRead < Size / 4, $"{pop.Store.LastGeneratedStream.BytesRead} bytes read for TOP");
    }

    [Fact]
    public async Task RetrStreamsTheStoreOnlyAsFastAsTheClientReads()
    {
        await using var pop = await Pop3Fixture.StartAsync();
        pop.Store.DeliverGenerated(Pop3Fixture.Alice, Size, () => new GeneratedMessage());
        await using var client = await RawPop3Client.LoginAsync(pop.Port);
        await client.SendAsync("RETR 1\r\n");
        Assert.Equal($"+OK {Size} octets", await client.ReadLineAsync());
        Assert.Equal(1024 * 1024, await client.DrainAsync(1024 * 1024)); // read 1 MiB, then stop reading

        // The session must stall on backpressure: socket buffers and one pipe block hold a few MiB, not the 20 MB.
        var stream = pop.Store.LastGeneratedStream!;
        long before;
        do
        {
            before = stream.BytesRead;
            await Task.Delay(300);
        }
        while (stream.BytesRead != before);
        Assert.True(stream.BytesRead < Size - 4 * 1024 * 1024, $"the store was read {stream.BytesRead} of {Size} bytes ahead of the client");

        // Now read the rest: un-stuffed, it is exactly the message.
        var body = await client.ReadMultilineAsync(timeoutSeconds: 120);
        Assert.EndsWith("\r\n.\r\n", Encoding.Latin1.GetString(body, body.Length - 5, 5));
        Assert.Equal(Size, stream.BytesRead);
    }
}
