using System.Text;

namespace RelayAppliance.Server.Smtp;

/// <summary>
/// Replies that carry the hostname or a configured limit: encoded once at start, so sessions still only copy bytes.
/// </summary>
internal sealed class HostReplies
{
    public HostReplies(SmtpServerOptions options)
    {
        var host = options.Hostname;
        Greeting = Ascii($"220 {host} ESMTP RelayAppliance\r\n");
        Helo = Ascii($"250 {host}\r\n");
        var tlsAvailable = options.Certificate is not null;
        EhloPlain = Ehlo(options, startTls: tlsAvailable, auth: options.AllowPlaintextAuth);
        EhloTls = Ehlo(options, startTls: false, auth: true);
    }

    public byte[] Greeting { get; }
    public byte[] Helo { get; }
    public byte[] EhloPlain { get; }
    public byte[] EhloTls { get; }

    private static byte[] Ehlo(SmtpServerOptions options, bool startTls, bool auth)
    {
        var lines = new List<string>
        {
            options.Hostname,
            "PIPELINING",
            $"SIZE {options.MaxMessageSize}",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
        };
        if (startTls)
        {
            lines.Add("STARTTLS");
        }
        if (auth)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }
        var text = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            text.Append(i == lines.Count - 1 ? "250 " : "250-").Append(lines[i]).Append("\r\n");
        }
        return Ascii(text.ToString());
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
