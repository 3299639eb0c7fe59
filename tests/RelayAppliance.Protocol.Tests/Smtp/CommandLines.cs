using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

/// <summary>Runs a wire command line through the line reader (both buffer shapes) and the verb parser.</summary>
internal static class CommandLines
{
    public const int MaxCommandLine = 512;

    public sealed record Parsed(string Shape, SmtpVerb Verb, byte[] Arguments)
    {
        public string Text(Range range) => Encoding.UTF8.GetString(Arguments.AsSpan()[range]);
    }

    /// <summary><paramref name="line"/> without CRLF; the helper appends it.</summary>
    public static IEnumerable<Parsed> Parse(string line) => Parse(TestSequences.Bytes(line));

    public static IEnumerable<Parsed> Parse(byte[] line)
    {
        byte[] wire = [.. line, (byte)'\r', (byte)'\n'];
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            yield return ReadAndParse(shape, sequence, wire.Length);
        }
    }

    private static Parsed ReadAndParse(string shape, ReadOnlySequence<byte> sequence, int wireLength)
    {
        var reader = new SequenceReader<byte>(sequence);
        LineStatus status = SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out ReadOnlySequence<byte> read, out bool lfFound);
        Assert.Equal(LineStatus.Complete, status);
        Assert.True(lfFound);
        Assert.Equal(wireLength, reader.Consumed);

        Span<byte> scratch = stackalloc byte[MaxCommandLine];
        ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(read, scratch);
        SmtpVerb verb = SmtpCommandParser.ParseVerb(span, out ReadOnlySpan<byte> arguments);
        return new Parsed(shape, verb, arguments.ToArray());
    }

    public static IEnumerable<Parsed> Arguments(string verb, string arguments) => Parse(verb + " " + arguments);

    public static IEnumerable<Parsed> Arguments(string verb, byte[] arguments) => Parse([.. TestSequences.Bytes(verb + " "), .. arguments]);
}
