using System.Text;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// The CAPA response (RFC 2449 §5), pre-encoded for each combination the session can be in, so CAPA only copies bytes.
/// </summary>
internal sealed class Pop3Capabilities
{
    private readonly byte[][] _variants = new byte[4][];

    public Pop3Capabilities()
    {
        for (var i = 0; i < 4; i++)
        {
            _variants[i] = Build(stls: (i & 1) != 0, auth: (i & 2) != 0);
        }
    }

    /// <param name="stls">STLS is offered: a certificate is configured and the session is not under TLS yet (RFC 2595 §4).</param>
    /// <param name="auth">USER/PASS and AUTH PLAIN may be used on this connection now (TLS, or plaintext allowed for this client).</param>
    public byte[] For(bool stls, bool auth) => _variants[(stls ? 1 : 0) | (auth ? 2 : 0)];

    private static byte[] Build(bool stls, bool auth)
    {
        var text = new StringBuilder("+OK capability list follows\r\n");
        text.Append("TOP\r\n");                 // RFC 2449 §6.1
        text.Append("UIDL\r\n");                // RFC 2449 §6.6
        text.Append("RESP-CODES\r\n");          // RFC 2449 §6.4: [IN-USE], [SYS/TEMP] …
        text.Append("AUTH-RESP-CODE\r\n");      // RFC 3206 §6: [AUTH] on failed logins
        text.Append("PIPELINING\r\n");          // RFC 2449 §6.6: commands may be sent in a batch
        if (auth)
        {
            text.Append("USER\r\n");            // RFC 2449 §6.2
            text.Append("SASL PLAIN\r\n");      // RFC 2449 §6.3, RFC 5034
        }
        if (stls)
        {
            text.Append("STLS\r\n");            // RFC 2595 §4
        }
        text.Append("IMPLEMENTATION RelayAppliance\r\n"); // RFC 2449 §6.9
        text.Append(".\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
