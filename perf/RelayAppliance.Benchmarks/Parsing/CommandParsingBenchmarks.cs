using System.Buffers;
using BenchmarkDotNet.Attributes;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>
/// One command line as the session sees it: frame the line in a ReadOnlySequence, take its span, parse the verb and
/// the verb's arguments. Inputs are what Thunderbird / Postfix send.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class CommandParsingBenchmarks
{
    private const int MaxCommandLine = 512; // RFC 5321 §4.5.3.1.4

    private static readonly ReadOnlySequence<byte> EhloLine = new("EHLO client.example.org\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> MailFromLine = new("MAIL FROM:<alice.sender@example.org> SIZE=48213 BODY=8BITMIME\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> RcptToLine = new("RCPT TO:<bob.recipient@mail.example.com>\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> DataLine = new("DATA\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> RsetLine = new("RSET\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> NoopLine = new("NOOP\r\n"u8.ToArray());
    private static readonly ReadOnlySequence<byte> QuitLine = new("QUIT\r\n"u8.ToArray());

    [Benchmark] public int ParseEhlo() => ParseOne(EhloLine);
    [Benchmark] public int ParseMailFrom() => ParseOne(MailFromLine);
    [Benchmark] public int ParseRcptTo() => ParseOne(RcptToLine);
    [Benchmark] public int ParseData() => ParseOne(DataLine);
    [Benchmark] public int ParseRset() => ParseOne(RsetLine);
    [Benchmark] public int ParseNoop() => ParseOne(NoopLine);
    [Benchmark] public int ParseQuit() => ParseOne(QuitLine);

    private static int ParseOne(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return ParseNext(ref reader);
    }

    /// <summary>Parses one line the way the session loop does; returns a value that depends on the result.</summary>
    internal static int ParseNext(ref SequenceReader<byte> reader)
    {
        if (SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out ReadOnlySequence<byte> line, out _) != LineStatus.Complete)
        {
            return -1;
        }

        Span<byte> scratch = stackalloc byte[MaxCommandLine];
        ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(line, scratch);
        SmtpVerb verb = SmtpCommandParser.ParseVerb(span, out ReadOnlySpan<byte> arguments);
        switch (verb)
        {
            case SmtpVerb.Helo or SmtpVerb.Ehlo:
                SmtpCommandParser.TryParseHelo(arguments, out Range domain);
                return domain.End.Value;
            case SmtpVerb.Mail:
                SmtpCommandParser.TryParseMailFrom(arguments, out MailFromCommand mail);
                return (int)mail.DeclaredSize + mail.Address.End.Value;
            case SmtpVerb.Rcpt:
                SmtpCommandParser.TryParseRcptTo(arguments, smtpUtf8: false, out RcptToCommand rcpt);
                return rcpt.Address.End.Value;
            default:
                return (int)verb;
        }
    }
}
