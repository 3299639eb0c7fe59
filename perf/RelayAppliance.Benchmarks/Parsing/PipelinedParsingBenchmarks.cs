using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>
/// A PIPELINING burst (RFC 2920) as one buffer: RSET, MAIL FROM, 10 × RCPT TO, DATA. Parsed as the session does:
/// every complete line in the buffer, then one AdvanceTo. The split variant puts the burst in 64-byte segments,
/// as a socket pipe might, so lines straddle segment boundaries (the slow path).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class PipelinedParsingBenchmarks
{
    private static readonly byte[] Burst = BuildBurst();
    private static readonly ReadOnlySequence<byte> Contiguous = new(Burst);
    private static readonly ReadOnlySequence<byte> Split = Segments.Split(Burst, 64);

    [Benchmark] public int ParsePipelinedBurst() => ParseAll(Contiguous);
    [Benchmark] public int ParsePipelinedBurstSplit64() => ParseAll(Split);

    private static int ParseAll(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        int sum = 0;
        while (!reader.End)
        {
            sum += CommandParsingBenchmarks.ParseNext(ref reader);
        }

        return sum;
    }

    private static byte[] BuildBurst()
    {
        var text = new StringBuilder("RSET\r\nMAIL FROM:<alice.sender@example.org> SIZE=48213 BODY=8BITMIME\r\n");
        for (int i = 0; i < 10; i++)
        {
            text.Append("RCPT TO:<recipient").Append(i).Append("@mail.example.com>\r\n");
        }

        text.Append("DATA\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
