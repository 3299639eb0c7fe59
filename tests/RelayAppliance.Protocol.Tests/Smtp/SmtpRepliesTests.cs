using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class SmtpRepliesTests
{
    private delegate ReadOnlySpan<byte> ReplyGetter();

    public static TheoryData<string> ReplyNames()
    {
        var data = new TheoryData<string>();
        foreach (PropertyInfo property in typeof(SmtpReplies).GetProperties(BindingFlags.Public | BindingFlags.Static))
        {
            data.Add(property.Name);
        }

        return data;
    }

    private static string Reply(string name)
    {
        var getter = typeof(SmtpReplies).GetProperty(name)!.GetMethod!.CreateDelegate<ReplyGetter>();
        return Encoding.ASCII.GetString(getter());
    }

    [Theory]
    [MemberData(nameof(ReplyNames))]
    public void Every_reply_is_one_well_formed_line(string name)
    {
        string reply = Reply(name);
        Assert.EndsWith("\r\n", reply);
        Assert.DoesNotContain('\n', reply[..^2]);
        Assert.DoesNotContain('\r', reply[..^2]);
        Assert.True(reply.Length <= 512, name); // RFC 5321 §4.5.3.1.5 reply line limit

        // RFC 3463 enhanced code on 2xx/4xx/5xx, with a class digit that matches the reply's first digit.
        Match match = Regex.Match(reply, @"^([2-5])\d\d ");
        Assert.True(match.Success, $"{name}: {reply}");
        if (match.Groups[1].Value != "3")
        {
            Assert.Matches($@"^{match.Groups[1].Value}\d\d {match.Groups[1].Value}\.\d{{1,3}}\.\d{{1,3}} \S", reply);
        }
    }

    [Theory]
    [InlineData(SmtpArgumentError.Syntax, "501 5.5.4 ")]
    [InlineData(SmtpArgumentError.BadAddress, "501 5.1.3 ")]
    [InlineData(SmtpArgumentError.UnknownParameter, "555 5.5.4 ")]
    [InlineData(SmtpArgumentError.Utf8NotPermitted, "553 5.6.7 ")]
    [InlineData(SmtpArgumentError.BadBodyType, "501 5.5.4 ")]
    [InlineData(SmtpArgumentError.BadSize, "501 5.5.4 ")]
    public void Argument_errors_map_to_their_reply(SmtpArgumentError error, string prefix)
        => Assert.StartsWith(prefix, Encoding.ASCII.GetString(SmtpReplies.ForArgumentError(error)));

    [Fact]
    public void None_has_no_reply()
        => Assert.Throws<ArgumentOutOfRangeException>(() => SmtpReplies.ForArgumentError(SmtpArgumentError.None).Length);

    [Fact]
    public void Auth_login_prompts_are_base64_of_username_and_password()
    {
        Assert.Equal("334 " + Convert.ToBase64String("Username:"u8) + "\r\n", Reply(nameof(SmtpReplies.AuthLoginUsername)));
        Assert.Equal("334 " + Convert.ToBase64String("Password:"u8) + "\r\n", Reply(nameof(SmtpReplies.AuthLoginPassword)));
        Assert.Equal("334 \r\n", Reply(nameof(SmtpReplies.AuthPlainChallenge)));
    }
}
