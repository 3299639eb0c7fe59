using System.Buffers;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Testing;

namespace RelayAppliance.Benchmarks.Pop3;

/// <summary>
/// RETR's byte-stuffing of a stored message fed in 16 KiB reads (as the session reads the store), into a reused
/// buffer writer: the cost per message body, and the proof that it allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class Pop3EncoderBenchmarks
{
    private const int ReadSize = 16 * 1024;

    [Params(1024, 64 * 1024, 1024 * 1024)]
    public int Size { get; set; }

    private byte[] _message = [];
    private ArrayBufferWriter<byte> _output = new();

    [GlobalSetup]
    public void Setup()
    {
        _message = BenchmarkInputs.Pop3Message(Size);
        _output = new ArrayBufferWriter<byte>(Size + Size / 10 + 64);
    }

    [Benchmark]
    public int Retr()
    {
        _output.ResetWrittenCount();
        var encoder = Pop3MessageEncoder.ForRetr();
        for (var offset = 0; offset < _message.Length; offset += ReadSize)
        {
            encoder.Write(_message.AsSpan(offset, Math.Min(ReadSize, _message.Length - offset)), _output);
        }
        encoder.Complete(_output);
        return _output.WrittenCount;
    }

    [Benchmark]
    public int Top10()
    {
        _output.ResetWrittenCount();
        var encoder = Pop3MessageEncoder.ForTop(10);
        for (var offset = 0; offset < _message.Length && !encoder.IsComplete; offset += ReadSize)
        {
            encoder.Write(_message.AsSpan(offset, Math.Min(ReadSize, _message.Length - offset)), _output);
        }
        encoder.Complete(_output);
        return _output.WrittenCount;
    }
}
