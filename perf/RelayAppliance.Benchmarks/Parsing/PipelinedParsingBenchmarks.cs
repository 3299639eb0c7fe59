using System.Buffers;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Testing;

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
    private static readonly byte[] Burst = BenchmarkInputs.PipelinedBurst();
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
}
