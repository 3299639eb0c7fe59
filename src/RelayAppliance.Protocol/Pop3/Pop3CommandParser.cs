using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace RelayAppliance.Protocol.Pop3;

/// <summary>
/// Allocation-free parser for POP3 command lines (the line without its CRLF, framed by
/// <see cref="Smtp.SmtpLineReader"/>: both protocols end lines in CRLF). Results are numbers and ranges into the line.
/// </summary>
/// <remarks>
/// RFC 2449 §3: a command is a case-insensitive keyword of three or four characters, followed by arguments separated by
/// a single SP. We also tolerate runs of SP and trailing SP, which some clients send; every other byte is exact.
/// </remarks>
public static class Pop3CommandParser
{
    private const byte Sp = (byte)' ';

    // Four ASCII letters read little-endian; the input is folded with | 0x20202020, which maps only 'A'..'Z' onto 'a'..'z'
    // (every keyword byte is a letter, and a letter has exactly two pre-images under | 0x20: itself and its upper case).
    private const uint User = 'u' | 's' << 8 | 'e' << 16 | 'r' << 24;
    private const uint Pass = 'p' | 'a' << 8 | 's' << 16 | 's' << 24;
    private const uint Stat = 's' | 't' << 8 | 'a' << 16 | 't' << 24;
    private const uint List = 'l' | 'i' << 8 | 's' << 16 | 't' << 24;
    private const uint Retr = 'r' | 'e' << 8 | 't' << 16 | 'r' << 24;
    private const uint Dele = 'd' | 'e' << 8 | 'l' << 16 | 'e' << 24;
    private const uint Noop = 'n' | 'o' << 8 | 'o' << 16 | 'p' << 24;
    private const uint Rset = 'r' | 's' << 8 | 'e' << 16 | 't' << 24;
    private const uint Quit = 'q' | 'u' << 8 | 'i' << 16 | 't' << 24;
    private const uint Uidl = 'u' | 'i' << 8 | 'd' << 16 | 'l' << 24;
    private const uint Capa = 'c' | 'a' << 8 | 'p' << 16 | 'a' << 24;
    private const uint Stls = 's' | 't' << 8 | 'l' << 16 | 's' << 24;
    private const uint Auth = 'a' | 'u' << 8 | 't' << 16 | 'h' << 24;
    private const uint Top = 't' | 'o' << 8 | 'p' << 16;
    private const uint FoldCase = 0x20202020;

    /// <summary>RFC 4648 §4 base64 alphabet with padding, for RFC 5034 responses.</summary>
    private static readonly SearchValues<byte> Base64Chars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="u8);

    /// <summary>RFC 4422 §3.1 sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_"); lower case tolerated.</summary>
    private static readonly SearchValues<byte> SaslMechChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"u8);

    /// <summary>Parses one command line. On an error <paramref name="command"/> still carries the verb when it was recognised.</summary>
    public static Pop3CommandError TryParse(ReadOnlySpan<byte> line, out Pop3Command command)
    {
        Pop3Verb verb = ParseKeyword(line, out int keywordLength);
        command = new Pop3Command { Verb = verb };
        if (verb == Pop3Verb.Unknown)
        {
            return Pop3CommandError.UnknownCommand;
        }

        int argumentsStart = Math.Min(keywordLength + 1, line.Length);
        ReadOnlySpan<byte> arguments = line[argumentsStart..];
        switch (verb)
        {
            case Pop3Verb.Stat or Pop3Verb.Noop or Pop3Verb.Rset or Pop3Verb.Quit or Pop3Verb.Capa or Pop3Verb.Stls:
                return arguments.TrimEnd(Sp).IsEmpty ? Pop3CommandError.None : Pop3CommandError.Syntax;
            case Pop3Verb.User:
                return TryParseUser(arguments, argumentsStart, ref command);
            case Pop3Verb.Pass:
                // RFC 1939 §7: the password is the rest of the line; spaces belong to it.
                if (arguments.IsEmpty)
                {
                    return Pop3CommandError.Syntax;
                }

                command = command with { Argument = new Range(argumentsStart, line.Length) };
                return Pop3CommandError.None;
            case Pop3Verb.List or Pop3Verb.Uidl:
                return TryParseOptionalMessageNumber(arguments, ref command);
            case Pop3Verb.Retr or Pop3Verb.Dele:
                return TryParseMessageNumberOnly(arguments, ref command);
            case Pop3Verb.Top:
                return TryParseTop(arguments, ref command);
            default:
                return TryParseAuth(arguments, argumentsStart, ref command);
        }
    }

    /// <summary>Keyword of 3 (TOP) or 4 letters followed by SP or the end of the line (RFC 2449 §3).</summary>
    public static Pop3Verb ParseKeyword(ReadOnlySpan<byte> line, out int keywordLength)
    {
        keywordLength = 0;
        if (line.Length >= 4 && (line.Length == 4 || line[4] == Sp))
        {
            uint word = BinaryPrimitives.ReadUInt32LittleEndian(line) | FoldCase;
            Pop3Verb verb = word switch
            {
                User => Pop3Verb.User,
                Pass => Pop3Verb.Pass,
                Stat => Pop3Verb.Stat,
                List => Pop3Verb.List,
                Retr => Pop3Verb.Retr,
                Dele => Pop3Verb.Dele,
                Noop => Pop3Verb.Noop,
                Rset => Pop3Verb.Rset,
                Quit => Pop3Verb.Quit,
                Uidl => Pop3Verb.Uidl,
                Capa => Pop3Verb.Capa,
                Stls => Pop3Verb.Stls,
                Auth => Pop3Verb.Auth,
                _ => Pop3Verb.Unknown,
            };
            if (verb != Pop3Verb.Unknown)
            {
                keywordLength = 4;
                return verb;
            }
        }

        if (line.Length >= 3 && (line.Length == 3 || line[3] == Sp)
            && (((uint)line[0] | (uint)line[1] << 8 | (uint)line[2] << 16) | 0x202020) == Top)
        {
            keywordLength = 3;
            return Pop3Verb.Top;
        }

        return Pop3Verb.Unknown;
    }

    /// <summary>
    /// A line inside an AUTH exchange (RFC 5034 §4): "*" cancels, anything else must be base64 (an empty line is an empty
    /// response). Decoding is the caller's, into its own buffer.
    /// </summary>
    public static SaslResponseKind ParseSaslResponse(ReadOnlySpan<byte> line)
    {
        if (line.Length == 1 && line[0] == (byte)'*')
        {
            return SaslResponseKind.Cancel;
        }

        return IsBase64(line) ? SaslResponseKind.Response : SaslResponseKind.Invalid;
    }

    // RFC 1939 §7: USER name — one argument; we refuse controls and spaces inside it.
    private static Pop3CommandError TryParseUser(ReadOnlySpan<byte> arguments, int offset, ref Pop3Command command)
    {
        ReadOnlySpan<byte> name = arguments.TrimEnd(Sp);
        if (name.IsEmpty || name.IndexOfAnyInRange((byte)0, Sp) >= 0 || name.Contains((byte)0x7F))
        {
            return Pop3CommandError.Syntax;
        }

        command = command with { Argument = new Range(offset, offset + name.Length) };
        return Pop3CommandError.None;
    }

    // RFC 1939 §5: LIST [msg], UIDL [msg] (RFC 1939 §7).
    private static Pop3CommandError TryParseOptionalMessageNumber(ReadOnlySpan<byte> arguments, ref Pop3Command command)
    {
        ReadOnlySpan<byte> rest = arguments.TrimEnd(Sp);
        if (rest.IsEmpty)
        {
            return Pop3CommandError.None;
        }

        return TryParseMessageNumberOnly(rest, ref command);
    }

    // RFC 1939 §5: RETR msg, DELE msg.
    private static Pop3CommandError TryParseMessageNumberOnly(ReadOnlySpan<byte> arguments, ref Pop3Command command)
    {
        ReadOnlySpan<byte> rest = arguments.TrimStart(Sp).TrimEnd(Sp);
        Pop3CommandError error = TryParseNumber(rest, out int number);
        if (error != Pop3CommandError.None)
        {
            return error;
        }

        if (number == 0)
        {
            return Pop3CommandError.NoSuchMessage;
        }

        command = command with { MessageNumber = number };
        return Pop3CommandError.None;
    }

    // RFC 1939 §7: TOP msg n — msg ≥ 1, n ≥ 0.
    private static Pop3CommandError TryParseTop(ReadOnlySpan<byte> arguments, ref Pop3Command command)
    {
        ReadOnlySpan<byte> rest = arguments.TrimStart(Sp).TrimEnd(Sp);
        int space = rest.IndexOf(Sp);
        if (space < 0)
        {
            return Pop3CommandError.Syntax;
        }

        Pop3CommandError messageError = TryParseNumber(rest[..space], out int number);
        Pop3CommandError linesError = TryParseNumber(rest[space..].TrimStart(Sp), out int lines);
        if (messageError == Pop3CommandError.Syntax || linesError != Pop3CommandError.None)
        {
            return Pop3CommandError.Syntax;
        }

        if (messageError != Pop3CommandError.None || number == 0)
        {
            return Pop3CommandError.NoSuchMessage;
        }

        command = command with { MessageNumber = number, Lines = lines };
        return Pop3CommandError.None;
    }

    // RFC 5034 §4: AUTH [mechanism [SP initial-response]]; initial-response = base64 / "=".
    private static Pop3CommandError TryParseAuth(ReadOnlySpan<byte> arguments, int offset, ref Pop3Command command)
    {
        ReadOnlySpan<byte> rest = arguments.TrimEnd(Sp);
        if (rest.IsEmpty)
        {
            return Pop3CommandError.None; // SaslMechanism.None: list the mechanisms
        }

        int space = rest.IndexOf(Sp);
        ReadOnlySpan<byte> name = space < 0 ? rest : rest[..space];
        if (name.IsEmpty || name.Length > 20 || name.ContainsAnyExcept(SaslMechChars))
        {
            return Pop3CommandError.Syntax;
        }

        SaslMechanism mechanism = Ascii.EqualsIgnoreCase(name, "PLAIN"u8) ? SaslMechanism.Plain : SaslMechanism.Unsupported;
        command = command with { Mechanism = mechanism };
        if (space < 0)
        {
            return Pop3CommandError.None;
        }

        ReadOnlySpan<byte> response = rest[(space + 1)..];
        if (response.Length == 1 && response[0] == (byte)'=')
        {
            int at = offset + space + 1;
            command = command with { HasInitialResponse = true, Argument = new Range(at, at) };
            return Pop3CommandError.None;
        }

        if (response.IsEmpty || !IsBase64(response))
        {
            return Pop3CommandError.Syntax;
        }

        command = command with { HasInitialResponse = true, Argument = new Range(offset + space + 1, offset + rest.Length) };
        return Pop3CommandError.None;
    }

    // 1*DIGIT, no sign; values beyond int.MaxValue name no message any maildrop can hold (NoSuchMessage), never wrap.
    private static Pop3CommandError TryParseNumber(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        if (digits.IsEmpty || digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            return Pop3CommandError.Syntax;
        }

        ReadOnlySpan<byte> significant = digits.TrimStart((byte)'0');
        if (significant.Length > 10)
        {
            return Pop3CommandError.NoSuchMessage;
        }

        long result = 0;
        foreach (byte digit in significant)
        {
            result = result * 10 + (digit - '0');
        }

        if (result > int.MaxValue)
        {
            return Pop3CommandError.NoSuchMessage;
        }

        value = (int)result;
        return Pop3CommandError.None;
    }

    // RFC 4648 §4: base64 characters, "=" only as one or two trailing pads, length a multiple of 4.
    private static bool IsBase64(ReadOnlySpan<byte> text)
    {
        if (text.Length % 4 != 0 || text.ContainsAnyExcept(Base64Chars))
        {
            return false;
        }

        ReadOnlySpan<byte> data = text.TrimEnd((byte)'=');
        return text.Length - data.Length <= 2 && !data.Contains((byte)'=');
    }
}
