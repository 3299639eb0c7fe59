using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Pop3;

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
        var text = new StringBuilder("From: a@example.org\r\nTo: b@example.com\r\nSubject: benchmark\r\n\r\n");
        var line = 0;
        while (text.Length < Size)
        {
            // Every 20th line starts with a dot, as quoted-printable and signatures sometimes do.
            text.Append(line++ % 20 == 0 ? ".stuffed line of text, seventy-odd characters long, like a MUA wraps\r\n"
                : "an ordinary line of text, seventy-odd characters long, like a MUA wraps\r\n");
        }
        _message = Encoding.ASCII.GetBytes(text.ToString()[..Size]);
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
