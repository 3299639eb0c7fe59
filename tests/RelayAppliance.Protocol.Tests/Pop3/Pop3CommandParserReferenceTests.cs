using System.Numerics;
using System.Text;
using RelayAppliance.Protocol.Pop3;

namespace RelayAppliance.Protocol.Tests.Pop3;

/// <summary>
/// Random command lines through the span parser and through a slow, obviously-correct string reference of the same
/// grammar (RFC 1939 / RFC 2449 / RFC 5034 as documented on <see cref="Pop3CommandParser"/>); they must agree.
/// </summary>
public sealed class Pop3CommandParserReferenceTests
{
    private static readonly string[] Pieces =
    [
        "USER", "user", "PASS", "STAT", "stat", "LIST", "RETR", "retr", "DELE", "NOOP", "RSET", "QUIT", "TOP", "top", "ToP",
        "UIDL", "CAPA", "STLS", "AUTH", "PLAIN", "plain", "CRAM-MD5", " ", " ", " ", "  ", "0", "1", "007", "42", "2147483647",
        "2147483648", "4294967297", "99999999999999999999", "-", "+", "=", "==", "*", "abc", "AGFs", "AGFsaWNl", "x@y", "\t", "\u00e9",
    ];

    [Fact]
    public void Random_lines_agree_with_the_reference()
    {
        var random = new Random(2449);
        for (int round = 0; round < 20_000; round++)
        {
            var line = new StringBuilder();
            int count = random.Next(1, 6);
            for (int i = 0; i < count; i++)
            {
                line.Append(Pieces[random.Next(Pieces.Length)]);
                if (random.Next(3) > 0) line.Append(' ');
            }
            if (random.Next(4) == 0) line.Length--; // sometimes no trailing space
            string text = line.ToString();
            byte[] bytes = Encoding.UTF8.GetBytes(text);

            Pop3CommandError error = Pop3CommandParser.TryParse(bytes, out Pop3Command command);
            var expected = Reference(text);
            string actual = Describe(error, command, bytes);
            Assert.True(expected == actual, $"'{text}': expected {expected}, got {actual}");
        }
    }

    private static string Describe(Pop3CommandError error, Pop3Command command, byte[] bytes) => error != Pop3CommandError.None
        ? $"{error}"
        : $"{command.Verb} msg={command.MessageNumber} lines={command.Lines} mech={command.Mechanism} ir={command.HasInitialResponse} arg='{Encoding.UTF8.GetString(bytes.AsSpan()[command.Argument])}'";

    private static string Ok(Pop3Verb verb, int msg = 0, int lines = 0, SaslMechanism mech = SaslMechanism.None, bool ir = false, string arg = "")
        => $"{verb} msg={msg} lines={lines} mech={mech} ir={ir} arg='{arg}'";

    private static string Reference(string line)
    {
        string[] keywords = ["USER", "PASS", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA", "STLS", "AUTH"];
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        string keyword = space < 0 ? line : line[..space];
        string? match = keywords.FirstOrDefault(k => string.Equals(k, keyword, StringComparison.OrdinalIgnoreCase) && keyword.All(char.IsAsciiLetter));
        if (match is null) return nameof(Pop3CommandError.UnknownCommand);
        var verb = Enum.Parse<Pop3Verb>(match, ignoreCase: true);
        string rest = space < 0 ? "" : line[(space + 1)..];
        switch (verb)
        {
            case Pop3Verb.Stat or Pop3Verb.Noop or Pop3Verb.Rset or Pop3Verb.Quit or Pop3Verb.Capa or Pop3Verb.Stls:
                return rest.Trim(' ').Length == 0 ? Ok(verb) : "Syntax";
            case Pop3Verb.User:
            {
                string name = rest.TrimEnd(' ');
                return name.Length == 0 || name.Any(c => c <= ' ' || c == '\u007f') ? "Syntax" : Ok(verb, arg: name);
            }
            case Pop3Verb.Pass:
                return rest.Length == 0 ? "Syntax" : Ok(verb, arg: rest);
            case Pop3Verb.List or Pop3Verb.Uidl:
                return rest.Trim(' ').Length == 0 ? Ok(verb) : MessageNumber(verb, rest.Trim(' '));
            case Pop3Verb.Retr or Pop3Verb.Dele:
                return MessageNumber(verb, rest.Trim(' '));
            case Pop3Verb.Top:
            {
                string[] parts = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 2) return "Syntax";
                var (msgError, msg) = Number(parts[0]);
                var (linesError, lines) = Number(parts[1]);
                if (msgError == "Syntax" || linesError != null) return "Syntax";
                if (msgError != null || msg == 0) return "NoSuchMessage";
                return Ok(verb, msg: msg, lines: lines);
            }
            default:
            {
                string args = rest.TrimEnd(' ');
                if (args.Length == 0) return Ok(verb);
                int sp = args.IndexOf(' ', StringComparison.Ordinal);
                string name = sp < 0 ? args : args[..sp];
                if (name.Length is 0 or > 20 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return "Syntax";
                var mech = name.Equals("PLAIN", StringComparison.OrdinalIgnoreCase) ? SaslMechanism.Plain : SaslMechanism.Unsupported;
                if (sp < 0) return Ok(verb, mech: mech);
                string response = args[(sp + 1)..];
                if (response == "=") return Ok(verb, mech: mech, ir: true);
                bool base64 = response.Length > 0 && response.Length % 4 == 0
                    && response.TrimEnd('=').All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/')
                    && response.Length - response.TrimEnd('=').Length <= 2;
                return base64 ? Ok(verb, mech: mech, ir: true, arg: response) : "Syntax";
            }
        }
    }

    private static string MessageNumber(Pop3Verb verb, string text)
    {
        var (error, value) = Number(text);
        if (error != null) return error;
        return value == 0 ? "NoSuchMessage" : Ok(verb, msg: value);
    }

    private static (string? Error, int Value) Number(string text)
    {
        if (text.Length == 0 || !text.All(char.IsAsciiDigit)) return ("Syntax", 0);
        var value = BigInteger.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        return value > int.MaxValue ? ("NoSuchMessage", 0) : (null, (int)value);
    }
}
