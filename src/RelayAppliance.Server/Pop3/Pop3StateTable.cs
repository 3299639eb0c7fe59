using RelayAppliance.Protocol.Pop3;

namespace RelayAppliance.Server.Pop3;

/// <summary>Where a session stands in RFC 1939 §3 (UPDATE is entered only by QUIT and ends the session).</summary>
public enum Pop3State : byte
{
    /// <summary>Greeting sent, not logged in (also after STLS, RFC 2595 §4).</summary>
    Authorization,
    /// <summary>USER accepted; PASS must follow (RFC 1939 §7).</summary>
    UserGiven,
    /// <summary>Logged in, maildrop locked.</summary>
    Transaction,
}

/// <summary>The allowed (state, verb) pairs in one place; everything else is "-ERR command not valid in this state".</summary>
public static class Pop3StateTable
{
    public static bool IsAllowed(Pop3State state, Pop3Verb verb) => verb switch
    {
        // RFC 1939 §4–§6 and RFC 2449 §5: QUIT and CAPA in every state.
        Pop3Verb.Quit or Pop3Verb.Capa => true,
        // RFC 1939 §7 USER, RFC 2595 §4 STLS, RFC 5034 §4 AUTH: AUTHORIZATION only.
        Pop3Verb.User or Pop3Verb.Stls or Pop3Verb.Auth => state is Pop3State.Authorization or Pop3State.UserGiven,
        // RFC 1939 §7: PASS only right after a successful USER.
        Pop3Verb.Pass => state == Pop3State.UserGiven,
        // RFC 1939 §5 and §7: the TRANSACTION commands (NOOP too).
        Pop3Verb.Stat or Pop3Verb.List or Pop3Verb.Retr or Pop3Verb.Dele or Pop3Verb.Noop or Pop3Verb.Rset
            or Pop3Verb.Top or Pop3Verb.Uidl => state == Pop3State.Transaction,
        _ => false,
    };
}
