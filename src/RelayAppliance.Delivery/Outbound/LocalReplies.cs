namespace RelayAppliance.Delivery.Outbound;

/// <summary>Replies we synthesise when we refuse a message locally, without sending anything (RFC 3463 codes).</summary>
internal static class LocalReplies
{
    /// <summary>RFC 6152 §3: 8-bit content must not go to a server without 8BITMIME; we do not downgrade (X.6.3).</summary>
    public static readonly SmtpReply EightBitNotSupported =
        new(554, "5.6.3 Remote server does not support 8BITMIME; 8-bit message not sent");
    /// <summary>RFC 6531 §3.2: an SMTPUTF8 message must not go to a server without SMTPUTF8 (X.6.7).</summary>
    public static readonly SmtpReply SmtpUtf8NotSupported =
        new(554, "5.6.7 Remote server does not support SMTPUTF8; internationalized message not sent");

    /// <summary>RFC 1870 §6: do not send a message larger than the server's declared SIZE (X.3.4).</summary>
    public static SmtpReply TooBig(long size, long limit) =>
        new(552, $"5.3.4 Message size {size} exceeds the remote server's limit of {limit}");
}
