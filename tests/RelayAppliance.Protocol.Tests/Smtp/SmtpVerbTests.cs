using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class SmtpVerbTests
{
    [Theory]
    [InlineData("HELO", SmtpVerb.Helo)]
    [InlineData("EHLO", SmtpVerb.Ehlo)]
    [InlineData("MAIL", SmtpVerb.Mail)]
    [InlineData("RCPT", SmtpVerb.Rcpt)]
    [InlineData("DATA", SmtpVerb.Data)]
    [InlineData("BDAT", SmtpVerb.Bdat)]
    [InlineData("RSET", SmtpVerb.Rset)]
    [InlineData("NOOP", SmtpVerb.Noop)]
    [InlineData("QUIT", SmtpVerb.Quit)]
    [InlineData("VRFY", SmtpVerb.Vrfy)]
    [InlineData("EXPN", SmtpVerb.Expn)]
    [InlineData("HELP", SmtpVerb.Help)]
    [InlineData("STARTTLS", SmtpVerb.StartTls)]
    [InlineData("AUTH", SmtpVerb.Auth)]
    public void Every_verb_is_recognised_in_any_case(string verb, SmtpVerb expected)
    {
        foreach (string spelling in new[] { verb, verb.ToLowerInvariant(), MixCase(verb) })
        {
            foreach (var parsed in CommandLines.Parse(spelling))
            {
                Assert.True(parsed.Verb == expected, $"{spelling} ({parsed.Shape})");
                Assert.Empty(parsed.Arguments);
            }

            foreach (var parsed in CommandLines.Parse(spelling + " some args"))
            {
                Assert.True(parsed.Verb == expected, $"{spelling} ({parsed.Shape})");
                Assert.Equal("some args"u8.ToArray(), parsed.Arguments);
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("MAI")]
    [InlineData("MAILX FROM:<>")]     // verb must be followed by SP or end of line
    [InlineData("MAIL\tFROM:<>")]     // only SP separates
    [InlineData("DATAX")]
    [InlineData("STAR")]
    [InlineData("STARTTL")]
    [InlineData("STARTTLSX")]
    [InlineData("STARTSSL")]
    [InlineData("XEHLO foo")]
    [InlineData(" EHLO foo")]
    [InlineData("H\u00c9LO foo")]      // non-ASCII must not case-fold into a verb
    [InlineData("GET / HTTP/1.1")]
    [InlineData("hel\u000f")]         // 0x0F | 0x20 is '/', not 'o'
    public void Anything_else_is_unknown_with_no_arguments(string line)
    {
        foreach (var parsed in CommandLines.Parse(line))
        {
            Assert.True(parsed.Verb == SmtpVerb.Unknown, $"{line} ({parsed.Shape})");
            Assert.Empty(parsed.Arguments);
        }
    }

    [Fact]
    public void Arguments_exclude_only_the_one_separating_space()
    {
        foreach (var parsed in CommandLines.Parse("EHLO  two.spaces "))
        {
            Assert.Equal(SmtpVerb.Ehlo, parsed.Verb);
            Assert.Equal(" two.spaces "u8.ToArray(), parsed.Arguments);
        }

        foreach (var parsed in CommandLines.Parse("QUIT "))
        {
            Assert.Equal(SmtpVerb.Quit, parsed.Verb);
            Assert.Empty(parsed.Arguments);
        }
    }

    private static string MixCase(string verb)
    {
        char[] chars = verb.ToCharArray();
        for (int i = 0; i < chars.Length; i += 2) chars[i] = char.ToLowerInvariant(chars[i]);
        return new string(chars);
    }
}
