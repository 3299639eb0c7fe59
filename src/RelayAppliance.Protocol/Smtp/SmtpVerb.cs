namespace RelayAppliance.Protocol.Smtp;

/// <summary>SMTP command verbs (RFC 5321 §4.1, RFC 3030, RFC 3207, RFC 4954).</summary>
public enum SmtpVerb : byte
{
    Unknown = 0,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
}
