using System.Buffers;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Benchmarks.Pop3;

/// <summary>
/// One POP3 command line as the session sees it: frame the line in a ReadOnlySequence, take its span, parse keyword
/// and arguments. Inputs are what Thunderbird / fetchmail send. "Split" runs the slow path (one segment per byte).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class Pop3CommandParsingBenchmarks
{
    private const int MaxCommandLine = 512;

    private static readonly ReadOnlySequence<byte> UserLine = new("USER alice.recipient@mail.example.com\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> PassLine = new("PASS correct horse battery staple\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> AuthPlainLine = new("AUTH PLAIN AGFsaWNlQGxvY2FsaG9zdABjb3JyZWN0IGhvcnNl\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> StatLine = new("STAT\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> ListOneLine = new("LIST 1234\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> UidlLine = new("UIDL\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> RetrLine = new("RETR 1234\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> TopLine = new("TOP 1234 10\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> DeleLine = new("DELE 1234\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> QuitLine = new("QUIT\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> TopSplit = Parsing.Segments.Split("TOP 1234 10\r\n"u8.ToArray(), 1);

    [Benchmark] public int ParseUser() => ParseOne(UserLine);
    [Benchmark] public int ParsePass() => ParseOne(PassLine);
    [Benchmark] public int ParseAuthPlain() => ParseOne(AuthPlainLine);
    [Benchmark] public int ParseStat() => ParseOne(StatLine);
    [Benchmark] public int ParseListOne() => ParseOne(ListOneLine);
    [Benchmark] public int ParseUidl() => ParseOne(UidlLine);
    [Benchmark] public int ParseRetr() => ParseOne(RetrLine);
    [Benchmark] public int ParseTop() => ParseOne(TopLine);
    [Benchmark] public int ParseDele() => ParseOne(DeleLine);
    [Benchmark] public int ParseQuit() => ParseOne(QuitLine);
    [Benchmark] public int ParseTopSegmentPerByte() => ParseOne(TopSplit);

    private static int ParseOne(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out ReadOnlySequence<byte> line, out _) != LineStatus.Complete)
        {
            return -1;
        }

        Span<byte> scratch = stackalloc byte[MaxCommandLine];
        ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(line, scratch);
        Pop3CommandError error = Pop3CommandParser.TryParse(span, out Pop3Command command);
        return (int)error + (int)command.Verb + command.MessageNumber + command.Lines + command.Argument.End.Value;
    }
}
