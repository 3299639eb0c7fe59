using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Pop3;

public sealed class Pop3CommandParserTests
{
    private const int MaxCommandLine = 512; // the cap; RFC 2449 §4 asks for at least 255

    private sealed record Parsed(string Shape, Pop3CommandError Error, Pop3Command Command, byte[] Line)
    {
        public string Argument => Encoding.UTF8.GetString(Line.AsSpan()[Command.Argument]);
    }

    /// <summary>Frames "line CRLF" with the line reader (one segment and one segment per byte) and parses it.</summary>
    private static IEnumerable<Parsed> Parse(string line)
    {
        byte[] wire = TestSequences.Bytes(line + "\r\n");
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out var read, out _));
            Assert.Equal(wire.Length, reader.Consumed);
            yield return ParseLine(shape, read);
        }
    }

    private static Parsed ParseLine(string shape, in ReadOnlySequence<byte> read)
    {
        Span<byte> scratch = stackalloc byte[MaxCommandLine];
        ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(read, scratch);
        Pop3CommandError error = Pop3CommandParser.TryParse(span, out Pop3Command command);
        return new Parsed(shape, error, command, span.ToArray());
    }

    private static string MixCase(string text)
    {
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i += 2) chars[i] = char.ToLowerInvariant(chars[i]);
        return new string(chars);
    }

    [Theory]
    [InlineData("STAT", Pop3Verb.Stat)]
    [InlineData("NOOP", Pop3Verb.Noop)]
    [InlineData("RSET", Pop3Verb.Rset)]
    [InlineData("QUIT", Pop3Verb.Quit)]
    [InlineData("CAPA", Pop3Verb.Capa)]
    [InlineData("STLS", Pop3Verb.Stls)]
    [InlineData("LIST", Pop3Verb.List)]
    [InlineData("UIDL", Pop3Verb.Uidl)]
    [InlineData("AUTH", Pop3Verb.Auth)]
    public void Commands_without_arguments_in_any_case(string keyword, Pop3Verb expected)
    {
        foreach (string spelling in new[] { keyword, keyword.ToLowerInvariant(), MixCase(keyword), keyword + " ", keyword + "  " })
        {
            foreach (var parsed in Parse(spelling))
            {
                Assert.True(parsed.Error == Pop3CommandError.None, $"{spelling} ({parsed.Shape}): {parsed.Error}");
                Assert.Equal(expected, parsed.Command.Verb);
                Assert.Equal(0, parsed.Command.MessageNumber);
                Assert.Equal(SaslMechanism.None, parsed.Command.Mechanism);
            }
        }
    }

    [Theory]
    [InlineData("STAT 1")]
    [InlineData("NOOP x")]
    [InlineData("RSET 1")]
    [InlineData("QUIT now")]
    [InlineData("CAPA x")]
    [InlineData("STLS x")]
    public void Argumentless_commands_refuse_arguments(string line)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.Syntax, $"{line} ({parsed.Shape})");
        }
    }

    [Theory]
    [InlineData("RETR 1", Pop3Verb.Retr, 1)]
    [InlineData("retr 42", Pop3Verb.Retr, 42)]
    [InlineData("DELE 7", Pop3Verb.Dele, 7)]
    [InlineData("dElE 007", Pop3Verb.Dele, 7)]
    [InlineData("LIST 3", Pop3Verb.List, 3)]
    [InlineData("UIDL 12 ", Pop3Verb.Uidl, 12)]
    [InlineData("RETR 2147483647", Pop3Verb.Retr, int.MaxValue)]
    [InlineData("RETR 0000000000002147483647", Pop3Verb.Retr, int.MaxValue)]
    public void Message_numbers(string line, Pop3Verb verb, int number)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.None, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(verb, parsed.Command.Verb);
            Assert.Equal(number, parsed.Command.MessageNumber);
        }
    }

    [Theory]
    [InlineData("RETR", Pop3CommandError.Syntax)]
    [InlineData("RETR ", Pop3CommandError.Syntax)]
    [InlineData("DELE", Pop3CommandError.Syntax)]
    [InlineData("RETR -1", Pop3CommandError.Syntax)]
    [InlineData("RETR +1", Pop3CommandError.Syntax)]
    [InlineData("RETR 1x", Pop3CommandError.Syntax)]
    [InlineData("RETR 0x10", Pop3CommandError.Syntax)]
    [InlineData("RETR 1 2", Pop3CommandError.Syntax)]
    [InlineData("RETR 1.0", Pop3CommandError.Syntax)]
    [InlineData("RETR \u0661", Pop3CommandError.Syntax)] // ARABIC-INDIC DIGIT ONE is not a DIGIT
    [InlineData("LIST a", Pop3CommandError.Syntax)]
    [InlineData("UIDL 1 1", Pop3CommandError.Syntax)]
    [InlineData("RETR 0", Pop3CommandError.NoSuchMessage)]
    [InlineData("DELE 000", Pop3CommandError.NoSuchMessage)]
    [InlineData("LIST 0", Pop3CommandError.NoSuchMessage)]
    [InlineData("RETR 2147483648", Pop3CommandError.NoSuchMessage)]
    [InlineData("RETR 4294967297", Pop3CommandError.NoSuchMessage)]   // would wrap to 1 in 32 bits
    [InlineData("RETR 18446744073709551617", Pop3CommandError.NoSuchMessage)] // would wrap to 1 in 64 bits
    [InlineData("RETR 99999999999999999999999999999999999999", Pop3CommandError.NoSuchMessage)]
    public void Bad_message_numbers(string line, Pop3CommandError expected)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == expected, $"{line} ({parsed.Shape}): {parsed.Error}");
        }
    }

    [Theory]
    [InlineData("TOP 1 0", 1, 0)]
    [InlineData("top 3 10", 3, 10)]
    [InlineData("ToP 2 2147483647", 2, int.MaxValue)]
    [InlineData("TOP 1  5 ", 1, 5)]
    [InlineData("TOP  1 5", 1, 5)] // a run of spaces after the 3-letter keyword
    public void Top(string line, int number, int lines)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.None, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(Pop3Verb.Top, parsed.Command.Verb);
            Assert.Equal(number, parsed.Command.MessageNumber);
            Assert.Equal(lines, parsed.Command.Lines);
        }
    }

    [Theory]
    [InlineData("TOP", Pop3CommandError.Syntax)]
    [InlineData("TOP 1", Pop3CommandError.Syntax)]
    [InlineData("TOP 1 -1", Pop3CommandError.Syntax)]
    [InlineData("TOP 1 x", Pop3CommandError.Syntax)]
    [InlineData("TOP 1 2 3", Pop3CommandError.Syntax)]
    [InlineData("TOP x 2", Pop3CommandError.Syntax)]
    [InlineData("TOP 1 2147483648", Pop3CommandError.Syntax)]
    [InlineData("TOP 0 2", Pop3CommandError.NoSuchMessage)]
    [InlineData("TOP 4294967297 2", Pop3CommandError.NoSuchMessage)]
    public void Bad_top(string line, Pop3CommandError expected)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == expected, $"{line} ({parsed.Shape}): {parsed.Error}");
        }
    }

    [Theory]
    [InlineData("USER alice@localhost", "alice@localhost")]
    [InlineData("user Alice@Example.Test ", "Alice@Example.Test")]
    [InlineData("USER j\u00f6rg@b\u00fccher.example", "j\u00f6rg@b\u00fccher.example")]
    public void User(string line, string name)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.None, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(Pop3Verb.User, parsed.Command.Verb);
            Assert.Equal(name, parsed.Argument);
        }
    }

    [Theory]
    [InlineData("USER")]
    [InlineData("USER ")]
    [InlineData("USER a b")]
    [InlineData("USER a\tb")]
    [InlineData("USER a\u007fb")]
    public void Bad_user(string line)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.Syntax, $"{line} ({parsed.Shape}): {parsed.Error}");
        }
    }

    [Theory]
    [InlineData("PASS secret", "secret")]
    [InlineData("pass correct horse battery staple", "correct horse battery staple")] // RFC 1939 §7: spaces belong to it
    [InlineData("PASS  lead", " lead")]
    [InlineData("PASS trail ", "trail ")]
    [InlineData("PASS p\u00e4ss", "p\u00e4ss")]
    public void Pass_takes_the_rest_of_the_line(string line, string password)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.None, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(Pop3Verb.Pass, parsed.Command.Verb);
            Assert.Equal(password, parsed.Argument);
        }
    }

    [Theory]
    [InlineData("PASS")]
    [InlineData("PASS ")]
    public void Empty_pass_is_a_syntax_error(string line)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.Syntax, $"{line} ({parsed.Shape})");
        }
    }

    [Theory]
    [InlineData("AUTH PLAIN", SaslMechanism.Plain, false, "")]
    [InlineData("auth plain", SaslMechanism.Plain, false, "")]
    [InlineData("AUTH PLAIN AGFsaWNlAHNlY3JldA==", SaslMechanism.Plain, true, "AGFsaWNlAHNlY3JldA==")]
    [InlineData("AUTH PLAIN AGFsaWNlAHNlY3JldA== ", SaslMechanism.Plain, true, "AGFsaWNlAHNlY3JldA==")]
    [InlineData("AUTH PLAIN =", SaslMechanism.Plain, true, "")]
    [InlineData("AUTH CRAM-MD5", SaslMechanism.Unsupported, false, "")]
    [InlineData("AUTH XOAUTH2 dGVzdA==", SaslMechanism.Unsupported, true, "dGVzdA==")]
    public void Auth(string line, SaslMechanism mechanism, bool hasInitialResponse, string response)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.None, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(Pop3Verb.Auth, parsed.Command.Verb);
            Assert.Equal(mechanism, parsed.Command.Mechanism);
            Assert.Equal(hasInitialResponse, parsed.Command.HasInitialResponse);
            Assert.Equal(response, parsed.Argument);
        }
    }

    [Theory]
    [InlineData("AUTH PLAIN !!!!")]
    [InlineData("AUTH PLAIN abc")]           // not a multiple of 4
    [InlineData("AUTH PLAIN ab=c")]          // padding inside
    [InlineData("AUTH PLAIN a===")]          // three pads
    [InlineData("AUTH PLAIN AGFs AGFs")]     // two responses
    [InlineData("AUTH PL@IN")]
    [InlineData("AUTH ABCDEFGHIJKLMNOPQRSTU")] // 21 characters (RFC 4422 §3.1: at most 20)
    public void Bad_auth(string line)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.Syntax, $"{line} ({parsed.Shape}): {parsed.Error}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("ST")]
    [InlineData("STA")]
    [InlineData("STATS")]
    [InlineData("RETR1")]
    [InlineData("TOP1 2")]
    [InlineData("TOPS")]
    [InlineData("TO 1 2")]
    [InlineData(" STAT")]
    [InlineData("STAT\t")]
    [InlineData("APOP alice 0123456789abcdef0123456789abcdef")] // not offered
    [InlineData("XTND XMIT")]
    [InlineData("GET / HTTP/1.1")]
    [InlineData("ST\u00c4T")]
    [InlineData("sta\u0014")]   // 0x14 | 0x20 is '4', not 't'
    [InlineData("to\u0010")]    // 0x10 | 0x20 is '0', not 'p'
    public void Anything_else_is_unknown(string line)
    {
        foreach (var parsed in Parse(line))
        {
            Assert.True(parsed.Error == Pop3CommandError.UnknownCommand, $"{line} ({parsed.Shape}): {parsed.Error}");
            Assert.Equal(Pop3Verb.Unknown, parsed.Command.Verb);
        }
    }

    [Fact]
    public void Pipelined_commands_are_read_in_order_and_an_incomplete_tail_is_left()
    {
        byte[] wire = TestSequences.Bytes("USER a@b\r\nPASS x y\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 1 0\r\nQUI");
        byte[] scratch = new byte[MaxCommandLine];
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var reader = new SequenceReader<byte>(sequence);
            var verbs = new List<Pop3Verb>();
            while (SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out var line, out _) == LineStatus.Complete)
            {
                Assert.Equal(Pop3CommandError.None, Pop3CommandParser.TryParse(SmtpLineReader.GetLineSpan(line, scratch), out var command));
                verbs.Add(command.Verb);
            }

            Assert.Equal([Pop3Verb.User, Pop3Verb.Pass, Pop3Verb.Stat, Pop3Verb.List, Pop3Verb.Retr, Pop3Verb.Top], verbs);
            Assert.True(reader.Remaining == 3, shape);
        }
    }

    [Fact]
    public void A_line_over_512_octets_is_too_long_and_one_of_512_is_not()
    {
        string fits = "USER " + new string('a', MaxCommandLine - 7); // + CRLF = 512
        foreach (var parsed in Parse(fits))
        {
            Assert.Equal(Pop3CommandError.None, parsed.Error);
        }

        byte[] tooLong = TestSequences.Bytes("USER " + new string('a', MaxCommandLine - 6) + "\r\nNOOP\r\n");
        foreach (var (shape, sequence) in TestSequences.Shapes(tooLong))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.True(SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out _, out bool lfFound) == LineStatus.TooLong, shape);
            Assert.True(lfFound, shape);
            Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out var next, out _));
            Assert.Equal("NOOP"u8.ToArray(), next.ToArray());
        }
    }

    [Theory]
    [InlineData("*", SaslResponseKind.Cancel)]
    [InlineData("", SaslResponseKind.Response)]
    [InlineData("AGFsaWNlAHNlY3JldA==", SaslResponseKind.Response)]
    [InlineData("dGVzdA==", SaslResponseKind.Response)]
    [InlineData("**", SaslResponseKind.Invalid)]
    [InlineData("* ", SaslResponseKind.Invalid)]
    [InlineData("=", SaslResponseKind.Invalid)] // "=" is only an initial response (RFC 5034 §4)
    [InlineData("abc", SaslResponseKind.Invalid)]
    [InlineData("AUTH PLAIN", SaslResponseKind.Invalid)]
    public void Sasl_continuation_lines(string line, SaslResponseKind expected)
    {
        Assert.Equal(expected, Pop3CommandParser.ParseSaslResponse(Encoding.ASCII.GetBytes(line)));
    }
}
