using System.Buffers;
using System.Reflection;
using System.Text;
using RelayAppliance.Protocol.Pop3;

namespace RelayAppliance.Protocol.Tests.Pop3;

public sealed class Pop3RepliesTests
{
    public static TheoryData<string> ReplyNames()
    {
        var names = new TheoryData<string>();
        foreach (var property in typeof(Pop3Replies).GetProperties(BindingFlags.Public | BindingFlags.Static))
        {
            names.Add(property.Name);
        }
        return names;
    }

    private static string Reply(string name)
    {
        // ReadOnlySpan properties cannot be boxed through reflection: call the getter through a delegate instead.
        var getter = typeof(Pop3Replies).GetProperty(name)!.GetMethod!.CreateDelegate<SpanGetter>();
        return Encoding.ASCII.GetString(getter());
    }

    private delegate ReadOnlySpan<byte> SpanGetter();

    [Theory]
    [MemberData(nameof(ReplyNames))]
    public void Every_reply_is_a_status_line_ending_in_crlf(string name)
    {
        string reply = Reply(name);
        Assert.Matches(@"^(\+OK( [ -~]+)?|-ERR( \[(AUTH|IN-USE|SYS/TEMP)\])? [ -~]+|\+ |\.)\r\n", reply);
        Assert.True(reply.Length <= 512, name); // RFC 2449 §4: responses up to 512 octets
        Assert.EndsWith("\r\n", reply);
        if (name != nameof(Pop3Replies.SaslMechanisms))
        {
            Assert.Equal(reply.Length - 2, reply.IndexOf("\r\n", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Response_codes()
    {
        Assert.StartsWith("-ERR [AUTH] ", Reply(nameof(Pop3Replies.AuthFailed)));
        Assert.StartsWith("-ERR [IN-USE] ", Reply(nameof(Pop3Replies.MaildropInUse)));
        Assert.StartsWith("-ERR [SYS/TEMP] ", Reply(nameof(Pop3Replies.CommitFailed)));
        Assert.Equal("+OK\r\nPLAIN\r\n.\r\n", Reply(nameof(Pop3Replies.SaslMechanisms)));
    }

    [Fact]
    public void Numbered_replies()
    {
        var output = new ArrayBufferWriter<byte>();
        Pop3Replies.WriteStat(output, 2, 320);
        Pop3Replies.WriteListHeader(output, 2, 320);
        Pop3Replies.WriteScanListing(output, 1, 120, ok: false);
        Pop3Replies.WriteScanListing(output, 2, 200, ok: true);
        Pop3Replies.WriteUniqueIdListing(output, 1, "QhdPYR:00WBw1Ph7x7", ok: false);
        Pop3Replies.WriteUniqueIdListing(output, int.MaxValue, "~!", ok: true);
        Pop3Replies.WriteStat(output, int.MaxValue, long.MaxValue);
        Pop3Replies.WriteMessageFollows(output, 20_971_558);
        Assert.Equal(
            "+OK 2 320\r\n+OK 2 messages (320 octets)\r\n1 120\r\n+OK 2 200\r\n1 QhdPYR:00WBw1Ph7x7\r\n+OK 2147483647 ~!\r\n"
            + "+OK 2147483647 9223372036854775807\r\n+OK 20971558 octets\r\n",
            Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public void A_non_ascii_uid_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Pop3Replies.WriteUniqueIdListing(new ArrayBufferWriter<byte>(), 1, "\u00e9", ok: false));
    }

    [Fact]
    public void Every_command_error_has_a_reply()
    {
        foreach (var error in Enum.GetValues<Pop3CommandError>().Where(e => e != Pop3CommandError.None))
        {
            Assert.StartsWith("-ERR", Encoding.ASCII.GetString(Pop3Replies.ForCommandError(error)));
        }
    }
}
