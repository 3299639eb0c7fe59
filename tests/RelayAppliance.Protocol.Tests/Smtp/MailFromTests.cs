using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class MailFromTests
{
    private static IEnumerable<(CommandLines.Parsed Parsed, SmtpArgumentError Error, MailFromCommand Command)> Parse(string arguments)
        => Parse(TestSequences.Bytes(arguments));

    private static IEnumerable<(CommandLines.Parsed Parsed, SmtpArgumentError Error, MailFromCommand Command)> Parse(byte[] arguments)
    {
        foreach (var parsed in CommandLines.Arguments("MAIL", arguments))
        {
            Assert.Equal(SmtpVerb.Mail, parsed.Verb);
            SmtpArgumentError error = SmtpCommandParser.TryParseMailFrom(parsed.Arguments, out MailFromCommand command);
            yield return (parsed, error, command);
        }
    }

    private static void AssertError(string arguments, SmtpArgumentError expected)
    {
        foreach (var (parsed, error, _) in Parse(arguments))
        {
            Assert.True(error == expected, $"{arguments} ({parsed.Shape}): {error}, expected {expected}");
        }
    }

    private static void AssertAddress(string arguments, string address)
    {
        foreach (var (parsed, error, command) in Parse(arguments))
        {
            Assert.True(error == SmtpArgumentError.None, $"{arguments} ({parsed.Shape}): {error}");
            Assert.Equal(address, parsed.Text(command.Address));
        }
    }

    [Theory]
    [InlineData("FROM:<user@example.com>")]
    [InlineData("from:<user@example.com>")]
    [InlineData("From:<user@example.com>")]
    [InlineData("FROM: <user@example.com>")] // one space after the colon, as many clients send
    [InlineData("FROM:<user@example.com>  ")] // trailing spaces
    public void Plain_address(string arguments)
    {
        foreach (var (parsed, error, command) in Parse(arguments))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal("user@example.com", parsed.Text(command.Address));
            Assert.Equal("user", parsed.Text(command.LocalPart));
            Assert.Equal("example.com", parsed.Text(command.Domain));
            Assert.False(command.IsNullPath);
            Assert.Equal(-1, command.DeclaredSize);
            Assert.Equal(BodyType.Unspecified, command.Body);
            Assert.False(command.SmtpUtf8);
            Assert.False(command.LocalPartQuoted);
            Assert.False(command.HadSourceRoute);
        }
    }

    [Theory]
    [InlineData("FROM:<>")]
    [InlineData("FROM: <>")]
    public void Null_reverse_path(string arguments)
    {
        foreach (var (parsed, error, command) in Parse(arguments))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.True(command.IsNullPath);
            Assert.Equal("", parsed.Text(command.Address));
        }
    }

    [Fact]
    public void Size_and_body_parameters()
    {
        foreach (var (_, error, command) in Parse("FROM:<a@b.example> SIZE=12345 BODY=8BITMIME"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal(12345, command.DeclaredSize);
            Assert.Equal(BodyType.EightBitMime, command.Body);
        }

        foreach (var (_, error, command) in Parse("FROM:<> body=7bit  size=0"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.True(command.IsNullPath);
            Assert.Equal(0, command.DeclaredSize);
            Assert.Equal(BodyType.SevenBit, command.Body);
        }
    }

    [Theory]
    [InlineData("FROM:<a@b.example> SIZE=abc", SmtpArgumentError.BadSize)]
    [InlineData("FROM:<a@b.example> SIZE", SmtpArgumentError.BadSize)]
    [InlineData("FROM:<a@b.example> SIZE=-1", SmtpArgumentError.BadSize)]
    [InlineData("FROM:<a@b.example> SIZE=99999999999999999999", SmtpArgumentError.BadSize)]
    [InlineData("FROM:<a@b.example> SIZE=", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example> SIZE=1 SIZE=2", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example> BODY=BINARYMIME", SmtpArgumentError.BadBodyType)]
    [InlineData("FROM:<a@b.example> BODY", SmtpArgumentError.BadBodyType)]
    [InlineData("FROM:<a@b.example> SMTPUTF8=yes", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example> RET=HDRS", SmtpArgumentError.UnknownParameter)]
    [InlineData("FROM:<a@b.example> AUTH=<>", SmtpArgumentError.UnknownParameter)]
    [InlineData("FROM:<a@b.example> -X=1", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example> X_Y=1", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example>SIZE=1", SmtpArgumentError.Syntax)]
    [InlineData("FROM:<a@b.example> =1", SmtpArgumentError.Syntax)]
    public void Bad_parameters(string arguments, SmtpArgumentError expected) => AssertError(arguments, expected);

    [Fact]
    public void Smtputf8_parameter_allows_utf8_address()
    {
        foreach (var (parsed, error, command) in Parse("FROM:<用户@例子.广告> SMTPUTF8"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.True(command.SmtpUtf8);
            Assert.Equal("用户@例子.广告", parsed.Text(command.Address));
        }

        AssertAddress("FROM:<\"jöhn doe\"@example.com> smtputf8", "\"jöhn doe\"@example.com");
        AssertError("FROM:<用户@例子.广告>", SmtpArgumentError.Utf8NotPermitted);
        AssertError("FROM:<user@bücher.example>", SmtpArgumentError.Utf8NotPermitted);
        AssertError("FROM:<\"jöhn\"@example.com>", SmtpArgumentError.Utf8NotPermitted);
    }

    [Fact]
    public void Invalid_utf8_is_a_bad_address_even_with_smtputf8()
    {
        byte[] arguments = [.. "FROM:<u"u8, 0xC3, 0x28, .. "@example.com> SMTPUTF8"u8];
        foreach (var (parsed, error, _) in Parse(arguments))
        {
            Assert.True(error == SmtpArgumentError.BadAddress, parsed.Shape);
        }

        byte[] lone = [.. "FROM:<u"u8, 0xFF, .. "@example.com>"u8];
        foreach (var (parsed, error, _) in Parse(lone))
        {
            Assert.True(error == SmtpArgumentError.Utf8NotPermitted, parsed.Shape);
        }
    }

    [Fact]
    public void Source_route_is_dropped_and_flagged()
    {
        foreach (var (parsed, error, command) in Parse("FROM:<@relay1.example,@relay2.example:user@c.example>"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.Equal("user@c.example", parsed.Text(command.Address));
            Assert.True(command.HadSourceRoute);
        }

        AssertError("FROM:<@relay1.example user@c.example>", SmtpArgumentError.BadAddress);
        AssertError("FROM:<@relay1.example,relay2.example:user@c.example>", SmtpArgumentError.BadAddress);
        AssertError("FROM:<@:user@c.example>", SmtpArgumentError.BadAddress);
    }

    [Fact]
    public void Quoted_local_part_keeps_quotes_and_may_hold_at_and_spaces()
    {
        foreach (var (parsed, error, command) in Parse("FROM:<\"john doe@home\"@example.com> SIZE=10"))
        {
            Assert.Equal(SmtpArgumentError.None, error);
            Assert.True(command.LocalPartQuoted);
            Assert.Equal("\"john doe@home\"", parsed.Text(command.LocalPart));
            Assert.Equal("\"john doe@home\"@example.com", parsed.Text(command.Address));
            Assert.Equal(10, command.DeclaredSize);
        }

        AssertAddress("FROM:<\"a\\\"b\\\\c\"@example.com>", "\"a\\\"b\\\\c\"@example.com"); // quoted-pairSMTP
        AssertAddress("FROM:<\"\"@example.com>", "\"\"@example.com");                        // *QcontentSMTP may be empty
        AssertAddress("FROM:<\"a>b\"@example.com>", "\"a>b\"@example.com");
        AssertError("FROM:<\"unterminated@example.com>", SmtpArgumentError.BadAddress);
        AssertError("FROM:<\"tab\there\"@example.com>", SmtpArgumentError.BadAddress);
        AssertError("FROM:<\"a\\\tb\"@example.com>", SmtpArgumentError.BadAddress);
        AssertError("FROM:<\"a\"b@example.com>", SmtpArgumentError.BadAddress);
    }

    [Theory]
    [InlineData("FROM:<user%other.example@relay.example>", "user%other.example@relay.example")] // percent hack: just a local part
    [InlineData("FROM:<host!user@relay.example>", "host!user@relay.example")]                   // bang path: just a local part
    [InlineData("FROM:<first.last+tag@example.com>", "first.last+tag@example.com")]
    [InlineData("FROM:<!#$%&'*+-/=?^_`{|}~@example.com>", "!#$%&'*+-/=?^_`{|}~@example.com")]
    [InlineData("FROM:<user@localhost>", "user@localhost")]
    [InlineData("FROM:<user@123.example>", "user@123.example")]
    [InlineData("FROM:<user@a-b.example>", "user@a-b.example")]
    [InlineData("FROM:<user@[192.0.2.1]>", "user@[192.0.2.1]")]
    [InlineData("FROM:<user@[255.255.255.255]>", "user@[255.255.255.255]")]
    [InlineData("FROM:<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]")]
    [InlineData("FROM:<user@[ipv6:2001:DB8:0:0:0:0:0:1]>", "user@[ipv6:2001:DB8:0:0:0:0:0:1]")]
    [InlineData("FROM:<user@[IPv6:::1]>", "user@[IPv6:::1]")]
    [InlineData("FROM:<user@[IPv6:::]>", "user@[IPv6:::]")]
    [InlineData("FROM:<user@[IPv6:fe80::]>", "user@[IPv6:fe80::]")]
    [InlineData("FROM:<user@[IPv6:::ffff:192.0.2.1]>", "user@[IPv6:::ffff:192.0.2.1]")]
    [InlineData("FROM:<user@[IPv6:1:2:3:4:5:6:192.0.2.1]>", "user@[IPv6:1:2:3:4:5:6:192.0.2.1]")]
    public void Valid_addresses(string arguments, string address) => AssertAddress(arguments, address);

    [Theory]
    [InlineData("FROM:<user>")]
    [InlineData("FROM:<Postmaster>")] // only RCPT allows a bare Postmaster
    [InlineData("FROM:<@example.com>")]
    [InlineData("FROM:<user@>")]
    [InlineData("FROM:<user@example.com")]
    [InlineData("FROM:<.user@example.com>")]
    [InlineData("FROM:<user.@example.com>")]
    [InlineData("FROM:<us..er@example.com>")]
    [InlineData("FROM:<us er@example.com>")]
    [InlineData("FROM:<us(er@example.com>")]
    [InlineData("FROM:<user@@example.com>")]
    [InlineData("FROM:<user@-example.com>")]
    [InlineData("FROM:<user@example-.com>")]
    [InlineData("FROM:<user@exa_mple.com>")]
    [InlineData("FROM:<user@example..com>")]
    [InlineData("FROM:<user@.example.com>")]
    [InlineData("FROM:<user@example.com.>")]
    [InlineData("FROM:<user@[256.0.0.1]>")]
    [InlineData("FROM:<user@[1.2.3]>")]
    [InlineData("FROM:<user@[1.2.3.4.5]>")]
    [InlineData("FROM:<user@[1.2.3.4>")]
    [InlineData("FROM:<user@[1.2.3.4]x>")]
    [InlineData("FROM:<user@[0001.2.3.4]>")]
    [InlineData("FROM:<user@[IPv6:2001:db8::1::2]>")]
    [InlineData("FROM:<user@[IPv6:1:2:3:4:5:6:7]>")]
    [InlineData("FROM:<user@[IPv6:1:2:3:4:5:6:7:8:9]>")]
    [InlineData("FROM:<user@[IPv6:12345::1]>")]
    [InlineData("FROM:<user@[IPv6:1:]>")]
    [InlineData("FROM:<user@[IPv6::1]>")]
    [InlineData("FROM:<user@[IPv6:g::1]>")]
    [InlineData("FROM:<user@[x-tag:foo]>")] // General-address-literal: no registered tags besides IPv6
    [InlineData("FROM:<user@[]>")]
    public void Bad_addresses(string arguments) => AssertError(arguments, SmtpArgumentError.BadAddress);

    [Theory]
    [InlineData("")]
    [InlineData("FROM")]
    [InlineData("FRO:<>")]
    [InlineData("TO:<a@b.example>")]
    [InlineData("FROM:user@example.com")]  // brackets are required
    [InlineData("FROM:  <user@example.com>")] // only one space is tolerated
    [InlineData("FROM <user@example.com>")]
    [InlineData("FROM:<a@b.example>x")]
    [InlineData("FROM:<user@example.com>>")]
    public void Syntax_errors(string arguments) => AssertError(arguments, SmtpArgumentError.Syntax);

    [Fact]
    public void Local_part_limit_is_64_octets()
    {
        AssertAddress($"FROM:<{new string('a', 64)}@example.com>", new string('a', 64) + "@example.com");
        AssertError($"FROM:<{new string('a', 65)}@example.com>", SmtpArgumentError.BadAddress);
        AssertAddress($"FROM:<\"{new string('a', 62)}\"@example.com>", $"\"{new string('a', 62)}\"@example.com");
        AssertError($"FROM:<\"{new string('a', 63)}\"@example.com>", SmtpArgumentError.BadAddress);
    }

    [Fact]
    public void Domain_limit_is_255_octets_and_labels_63()
    {
        string label = new string('d', 63);
        string domain255 = $"{label}.{label}.{label}.{label}"; // 63*4 + 3 dots = 255
        Assert.Equal(255, domain255.Length);
        AssertAddress($"FROM:<u@{domain255}>", "u@" + domain255);
        AssertError($"FROM:<u@{domain255}d>", SmtpArgumentError.BadAddress);
        AssertError($"FROM:<u@{new string('d', 64)}.example>", SmtpArgumentError.BadAddress);
    }
}
