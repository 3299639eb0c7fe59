using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Testing;

namespace RelayAppliance.Benchmarks.Delivery;

/// <summary>
/// The outbound side of DATA: a stored body, fed in the spool's 64 KiB chunks, dot-stuffed into a pipe writer shaped
/// like the outbound connection's (64 KiB segments) over a stream that discards. Every 20th line starts with a dot,
/// more than real mail has, so the runs between stuffed dots are short.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class DotStuffingBenchmarks
{
    private const int ChunkSize = 64 * 1024;

    [Params(1024, 100 * 1024, 1024 * 1024)]
    public int Size { get; set; }

    private byte[] _message = [];
    private PipeWriter _writer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _message = BenchmarkInputs.Pop3Message(Size);
        _writer = PipeWriter.Create(Stream.Null, new StreamPipeWriterOptions(minimumBufferSize: ChunkSize, leaveOpen: true));
    }

    [Benchmark]
    public async Task<long> Stuff()
    {
        var body = new DotStuffingStream(_writer, async token => await _writer.FlushAsync(token));
        for (var offset = 0; offset < _message.Length; offset += ChunkSize)
        {
            await body.WriteAsync(_message.AsMemory(offset, Math.Min(ChunkSize, _message.Length - offset)));
        }
        body.WriteTerminator();
        await _writer.FlushAsync();
        return body.Length;
    }
}
