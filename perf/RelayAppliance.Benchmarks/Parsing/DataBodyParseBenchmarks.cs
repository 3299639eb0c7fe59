using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>
/// DATA decoding throughput over a 64 KiB body of 76-character lines with some dot-stuffed lines, fed whole or in
/// 4 KiB pieces (a typical pipe segment) into a 16 KiB output buffer, as the spool writer would drain it; the same
/// for a 1 KiB body (a typical notification) and a 10 MiB body (a large attachment, the usual SIZE limit).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class DataBodyParseBenchmarks
{
    private static readonly byte[] Body = BuildBody(64 * 1024);
    private static readonly byte[] Body1KiB = BuildBody(1024);
    private static readonly byte[] Body10MiB = BuildBody(10 * 1024 * 1024);
    private readonly byte[] _output = new byte[16 * 1024];

    [Params(false, true)]
    public bool Normalize { get; set; }

    [Benchmark] public long Unstuff64KiB() => Run(Body, Body.Length);
    [Benchmark] public long Unstuff64KiBIn4KiBPieces() => Run(Body, 4096);
    [Benchmark] public long Unstuff1KiB() => Run(Body1KiB, Body1KiB.Length);
    [Benchmark] public long Unstuff10MiBIn4KiBPieces() => Run(Body10MiB, 4096);

    private long Run(byte[] body, int piece)
    {
        var unstuffer = new DotUnstuffer(Normalize, maxLineLength: 1000);
        ReadOnlySpan<byte> input = body;
        long total = 0;
        while (true)
        {
            ReadOnlySpan<byte> chunk = input[..Math.Min(piece, input.Length)];
            DataStatus status = unstuffer.Process(chunk, _output, out int consumed, out int written);
            input = input[consumed..];
            total += written;
            if (status == DataStatus.EndOfData)
            {
                return total;
            }

            if (status == DataStatus.NeedMoreInput && input.IsEmpty)
            {
                throw new InvalidOperationException("The body has no terminator.");
            }
        }
    }

    private static byte[] BuildBody(int size)
    {
        var text = new StringBuilder(size + 128);
        text.Append("From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: benchmark\r\n\r\n");
        var random = new Random(42);
        int line = 0;
        while (text.Length < size - 8)
        {
            // Every 20th line starts with a (stuffed) dot, like quoted text or signatures.
            if (line++ % 20 == 0) text.Append("..");
            for (int i = 0; i < 74; i++) text.Append((char)('a' + random.Next(26)));
            text.Append("\r\n");
        }

        text.Append(".\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
