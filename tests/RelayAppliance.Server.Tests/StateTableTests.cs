using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Tests;

public sealed class StateTableTests
{
    // Rows: states in enum order (Connected, Identified, MailGiven, RecipientGiven, Chunking); 1 = allowed.
    private static readonly Dictionary<SmtpVerb, string> Expected = new()
    {
        [SmtpVerb.Helo] = "11111",
        [SmtpVerb.Ehlo] = "11111",
        [SmtpVerb.Mail] = "01000",
        [SmtpVerb.Rcpt] = "00110",
        [SmtpVerb.Data] = "00010",
        [SmtpVerb.Bdat] = "00011",
        [SmtpVerb.Rset] = "11111",
        [SmtpVerb.Noop] = "11111",
        [SmtpVerb.Quit] = "11111",
        [SmtpVerb.Vrfy] = "11111",
        [SmtpVerb.Expn] = "11111",
        [SmtpVerb.Help] = "11111",
        [SmtpVerb.StartTls] = "11000",
        [SmtpVerb.Auth] = "01000",
        [SmtpVerb.Unknown] = "00000",
    };

    [Fact]
    public void EveryStateVerbPairMatchesTheMatrix()
    {
        var verbs = Enum.GetValues<SmtpVerb>();
        Assert.Equal(verbs.Length, Expected.Count);
        foreach (var verb in verbs)
        {
            foreach (var state in Enum.GetValues<SmtpState>())
            {
                Assert.True(Expected[verb][(int)state] == '1' == SmtpStateTable.IsAllowed(state, verb), $"{state} × {verb}");
            }
        }
    }
}
