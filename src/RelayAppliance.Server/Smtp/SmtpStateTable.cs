using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Server.Smtp;

/// <summary>Where a session stands in RFC 5321's command sequence (§4.1.4).</summary>
public enum SmtpState : byte
{
    /// <summary>Greeting sent, no HELO/EHLO yet (or reset by STARTTLS).</summary>
    Connected,
    /// <summary>HELO/EHLO done, no transaction.</summary>
    Identified,
    /// <summary>MAIL accepted, no recipient yet.</summary>
    MailGiven,
    /// <summary>At least one recipient accepted.</summary>
    RecipientGiven,
    /// <summary>BDAT chunks received, LAST not yet (RFC 3030 §2).</summary>
    Chunking,
}

/// <summary>The allowed (state, verb) pairs in one place; everything else is 503 bad sequence.</summary>
public static class SmtpStateTable
{
    public static bool IsAllowed(SmtpState state, SmtpVerb verb) => verb switch
    {
        SmtpVerb.Helo or SmtpVerb.Ehlo or SmtpVerb.Rset or SmtpVerb.Noop or SmtpVerb.Quit
            or SmtpVerb.Vrfy or SmtpVerb.Expn or SmtpVerb.Help => true,
        SmtpVerb.Mail => state == SmtpState.Identified,
        SmtpVerb.Rcpt => state is SmtpState.MailGiven or SmtpState.RecipientGiven,
        SmtpVerb.Data => state == SmtpState.RecipientGiven,
        SmtpVerb.Bdat => state is SmtpState.RecipientGiven or SmtpState.Chunking,
        // RFC 3207 §4: no STARTTLS inside a transaction; RFC 4954 §4: no AUTH inside one either.
        SmtpVerb.StartTls => state is SmtpState.Connected or SmtpState.Identified,
        SmtpVerb.Auth => state == SmtpState.Identified,
        _ => false,
    };
}
