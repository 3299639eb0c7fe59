using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class OtherArgumentTests
{
    [Theory]
    [InlineData("100", 100L, false)]
    [InlineData("0 LAST", 0L, true)]
    [InlineData("65536 last", 65536L, true)]
    [InlineData("42 LaSt ", 42L, true)]
    [InlineData("9223372036854775807", long.MaxValue, false)]
    public void Bdat_chunk_size_and_last(string arguments, long size, bool last)
    {
        foreach (var parsed in CommandLines.Arguments("BDAT", arguments))
        {
            Assert.Equal(SmtpVerb.Bdat, parsed.Verb);
            Assert.Equal(SmtpArgumentError.None, SmtpCommandParser.TryParseBdat(parsed.Arguments, out long chunkSize, out bool isLast));
            Assert.Equal(size, chunkSize);
            Assert.Equal(last, isLast);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("LAST")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("12a")]
    [InlineData("1 LASTX")]
    [InlineData("1  LAST")]
    [InlineData("1 FIRST")]
    [InlineData("9223372036854775808")]
    [InlineData("99999999999999999999999")]
    public void Bdat_refused(string arguments)
    {
        foreach (var parsed in CommandLines.Arguments("BDAT", arguments))
        {
            Assert.True(SmtpCommandParser.TryParseBdat(parsed.Arguments, out _, out _) == SmtpArgumentError.Syntax, parsed.Shape);
        }
    }

    [Theory]
    [InlineData("PLAIN", AuthMechanism.Plain, "")]
    [InlineData("plain", AuthMechanism.Plain, "")]
    [InlineData("PLAIN AHVzZXIAcGFzcw==", AuthMechanism.Plain, "AHVzZXIAcGFzcw==")]
    [InlineData("PLAIN =", AuthMechanism.Plain, "=")]
    [InlineData("Login", AuthMechanism.Login, "")]
    [InlineData("LOGIN dXNlcg==", AuthMechanism.Login, "dXNlcg==")]
    [InlineData("CRAM-MD5", AuthMechanism.Unknown, "")]
    [InlineData("SCRAM-SHA-256 biwsbj11c2VyLHI9", AuthMechanism.Unknown, "biwsbj11c2VyLHI9")]
    [InlineData("XOAUTH2 ", AuthMechanism.Unknown, "")]
    public void Auth_mechanism_and_initial_response(string arguments, AuthMechanism mechanism, string response)
    {
        foreach (var parsed in CommandLines.Arguments("AUTH", arguments))
        {
            Assert.Equal(SmtpVerb.Auth, parsed.Verb);
            Assert.Equal(SmtpArgumentError.None, SmtpCommandParser.TryParseAuth(parsed.Arguments, out var actual, out Range initial));
            Assert.Equal(mechanism, actual);
            Assert.Equal(response, parsed.Text(initial));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("PLAIN!")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTU")] // 21 characters
    [InlineData("PLAIN ==")]
    [InlineData("PLAIN abc===")]
    [InlineData("PLAIN a=b")]
    [InlineData("PLAIN a b")]
    [InlineData("PLAIN *")]
    public void Auth_refused(string arguments)
    {
        foreach (var parsed in CommandLines.Arguments("AUTH", arguments))
        {
            Assert.True(SmtpCommandParser.TryParseAuth(parsed.Arguments, out _, out _) == SmtpArgumentError.Syntax, parsed.Shape);
        }
    }

    [Theory]
    [InlineData("mail.example.com", "mail.example.com")]
    [InlineData("[192.0.2.1]", "[192.0.2.1]")]
    [InlineData("[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]")]
    [InlineData("localhost", "localhost")]
    [InlineData("my_pc.local", "my_pc.local")] // not a valid Domain, accepted like Postfix does
    [InlineData("192.0.2.1", "192.0.2.1")]
    [InlineData(" padded ", "padded")]
    public void Helo_accepts_any_printable_token(string arguments, string expected)
    {
        foreach (string verb in new[] { "HELO", "EHLO" })
        {
            foreach (var parsed in CommandLines.Arguments(verb, arguments))
            {
                Assert.Equal(SmtpArgumentError.None, SmtpCommandParser.TryParseHelo(parsed.Arguments, out Range domain));
                Assert.Equal(expected, parsed.Text(domain));
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("two words")]
    [InlineData("tab\there")]
    [InlineData("bücher.example")]
    public void Helo_refused(string arguments)
    {
        foreach (var parsed in CommandLines.Arguments("EHLO", arguments))
        {
            Assert.True(SmtpCommandParser.TryParseHelo(parsed.Arguments, out _) == SmtpArgumentError.Syntax, parsed.Shape);
        }
    }

    [Fact]
    public void Helo_without_argument_is_a_syntax_error()
    {
        foreach (var parsed in CommandLines.Parse("HELO"))
        {
            Assert.Equal(SmtpVerb.Helo, parsed.Verb);
            Assert.Equal(SmtpArgumentError.Syntax, SmtpCommandParser.TryParseHelo(parsed.Arguments, out _));
        }
    }
}
