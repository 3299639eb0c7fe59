using System.Buffers;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Testing;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>
/// DATA decoding throughput over a 64 KiB body of 76-character lines with some dot-stuffed lines, fed whole or in
/// 4 KiB pieces (a typical pipe segment) into a 16 KiB output buffer, as the spool writer would drain it; the same
/// for a 1 KiB body (a typical notification) and a 10 MiB body (a large attachment, the usual SIZE limit); and a
/// 64 KiB body without dot lines, as most mail is, which the decoder copies whole lines at a time.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class DataBodyParseBenchmarks
{
    private static readonly byte[] Body = BenchmarkInputs.DataBody(64 * 1024);
    private static readonly byte[] PlainBody = BenchmarkInputs.DataBody(64 * 1024, withDotLines: false);
    private static readonly byte[] Body1KiB = BenchmarkInputs.DataBody(1024);
    private static readonly byte[] Body10MiB = BenchmarkInputs.DataBody(10 * 1024 * 1024);
    private readonly byte[] _output = new byte[16 * 1024];

    [Params(false, true)]
    public bool Normalize { get; set; }

    [Benchmark] public long Unstuff64KiB() => Run(Body, Body.Length);
    [Benchmark] public long Unstuff64KiBIn4KiBPieces() => Run(Body, 4096);
    [Benchmark] public long Unstuff64KiBWithoutDotLines() => Run(PlainBody, PlainBody.Length);
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
}
