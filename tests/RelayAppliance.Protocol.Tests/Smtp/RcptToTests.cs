using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class RcptToTests
{
    private static IEnumerable<(CommandLines.Parsed Parsed, SmtpArgumentError Error, RcptToCommand Command)> Parse(string arguments, bool smtpUtf8 = false)
    {
        foreach (var parsed in CommandLines.Arguments("RCPT", arguments))
        {
            Assert.Equal(SmtpVerb.Rcpt, parsed.Verb);
            SmtpArgumentError error = SmtpCommandParser.TryParseRcptTo(parsed.Arguments, smtpUtf8, out RcptToCommand command);
            yield return (parsed, error, command);
        }
    }

    private static void AssertError(string arguments, SmtpArgumentError expected, bool smtpUtf8 = false)
    {
        foreach (var (parsed, error, _) in Parse(arguments, smtpUtf8))
        {
            Assert.True(error == expected, $"{arguments} ({parsed.Shape}): {error}, expected {expected}");
        }
    }

    [Theory]
    [InlineData("TO:<user@example.com>")]
    [InlineData("to:<user@example.com>")]
    [InlineData("TO: <user@example.com>")]
    [InlineData("TO:<user@example.com> ")]
    public void Plain_recipient_ranges(string arguments)
    {
        foreach (var (parsed, error, command) in Parse(arguments))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal("user@example.com", parsed.Text(command.Address));
            Assert.Equal("user", parsed.Text(command.LocalPart));
            Assert.Equal("example.com", parsed.Text(command.Domain));
            Assert.False(command.LocalPartQuoted);
            Assert.False(command.HadSourceRoute);
        }
    }

    [Theory]
    [InlineData("TO:<Postmaster>", "Postmaster")]
    [InlineData("TO:<postmaster>", "postmaster")]
    [InlineData("TO:<POSTMASTER> ", "POSTMASTER")]
    public void Bare_postmaster_has_no_domain(string arguments, string expected)
    {
        foreach (var (parsed, error, command) in Parse(arguments))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal(expected, parsed.Text(command.Address));
            Assert.Equal(expected, parsed.Text(command.LocalPart));
            Assert.Equal("", parsed.Text(command.Domain));
        }
    }

    [Fact]
    public void Postmaster_at_domain_is_an_ordinary_mailbox()
    {
        foreach (var (parsed, error, command) in Parse("TO:<Postmaster@example.com>"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal("Postmaster", parsed.Text(command.LocalPart));
            Assert.Equal("example.com", parsed.Text(command.Domain));
        }
    }

    [Fact]
    public void Quoted_local_part_and_source_route_are_reported()
    {
        foreach (var (parsed, error, command) in Parse("TO:<@hop.example:\"a@b\"@[IPv6:2001:db8::5]>"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.True(command.LocalPartQuoted);
            Assert.True(command.HadSourceRoute);
            Assert.Equal("\"a@b\"", parsed.Text(command.LocalPart));
            Assert.Equal("[IPv6:2001:db8::5]", parsed.Text(command.Domain));
            Assert.Equal("\"a@b\"@[IPv6:2001:db8::5]", parsed.Text(command.Address));
        }
    }

    [Fact]
    public void Utf8_depends_on_the_transaction_smtputf8_flag()
    {
        AssertError("TO:<δοκιμή@παράδειγμα.δοκιμή>", SmtpArgumentError.Utf8NotPermitted, smtpUtf8: false);
        foreach (var (parsed, error, command) in Parse("TO:<δοκιμή@παράδειγμα.δοκιμή>", smtpUtf8: true))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal("δοκιμή", parsed.Text(command.LocalPart));
            Assert.Equal("παράδειγμα.δοκιμή", parsed.Text(command.Domain));
        }
    }

    [Theory]
    [InlineData("TO:<a@b.example> NOTIFY=NEVER", SmtpArgumentError.UnknownParameter)]
    [InlineData("TO:<a@b.example> ORCPT=rfc822;a@b.example", SmtpArgumentError.UnknownParameter)]
    [InlineData("TO:<a@b.example> SMTPUTF8", SmtpArgumentError.UnknownParameter)]
    [InlineData("TO:<a@b.example> -X", SmtpArgumentError.Syntax)]
    [InlineData("TO:<>", SmtpArgumentError.BadAddress)]
    [InlineData("TO:<Postmaster", SmtpArgumentError.BadAddress)]
    [InlineData("TO:<@hop.example:Postmaster>", SmtpArgumentError.BadAddress)]
    [InlineData("TO:<user>", SmtpArgumentError.BadAddress)]
    [InlineData("TO:<user@exa mple.com>", SmtpArgumentError.BadAddress)]
    [InlineData("TO:user@example.com", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example>", SmtpArgumentError.Syntax)]
    [InlineData("", SmtpArgumentError.Syntax)]
    public void Refused(string arguments, SmtpArgumentError expected) => AssertError(arguments, expected);
}
