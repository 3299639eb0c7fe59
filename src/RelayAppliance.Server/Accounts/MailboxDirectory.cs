namespace RelayAppliance.Server.Accounts;

/// <summary>What RCPT TO answers for a recipient in a local domain.</summary>
public enum LocalRecipientVerdict : byte { Accept, Unknown, MailboxFull, TooLarge }

/// <summary>
/// Which mailbox a local address delivers to: an alias, else the user of that name (`relayd user add`), else
/// postmaster (RFC 5321 §4.5.1: it always exists; its mailbox is read by creating the user postmaster@domain or by
/// aliasing it), else the domain's catch-all. Shared by RCPT TO (unknown users are refused at once, so no
/// backscatter) and by local delivery (a user removed meanwhile bounces).
/// </summary>
public sealed class MailboxDirectory
{
    private readonly UserStore _users;
    private readonly string _defaultDomain;
    private readonly Dictionary<string, string> _aliases;
    private readonly Dictionary<string, string> _catchAll;
    private readonly Func<string, long> _usedBytes;

    /// <param name="aliases">Full address → mailbox (case-insensitive).</param>
    /// <param name="catchAll">Domain → mailbox for otherwise unknown local parts.</param>
    /// <param name="usedBytes">Octets a mailbox holds now.</param>
    /// <param name="quotaBytes">Per mailbox; 0: unlimited.</param>
    public MailboxDirectory(UserStore users, IReadOnlyList<string> localDomains, IReadOnlyDictionary<string, string> aliases,
        IReadOnlyDictionary<string, string> catchAll, Func<string, long> usedBytes, long quotaBytes)
    {
        _users = users;
        _defaultDomain = localDomains.Count > 0 ? localDomains[0].ToLowerInvariant() : "localhost";
        _aliases = new Dictionary<string, string>(aliases, StringComparer.OrdinalIgnoreCase);
        _catchAll = new Dictionary<string, string>(catchAll, StringComparer.OrdinalIgnoreCase);
        _usedBytes = usedBytes;
        QuotaBytes = quotaBytes;
    }

    public long QuotaBytes { get; }

    /// <summary>The mailbox for a recipient of a local domain, or null when there is none.</summary>
    public string? Resolve(string address)
    {
        var at = address.LastIndexOf('@');
        if (at < 0)
        {
            // RCPT TO:<Postmaster> without a domain (RFC 5321 §4.5.1).
            return string.Equals(address, "postmaster", StringComparison.OrdinalIgnoreCase) ? Resolve("postmaster@" + _defaultDomain) : null;
        }
        if (_aliases.TryGetValue(address, out var target))
        {
            return target;
        }
        if (_users.Exists(address))
        {
            return address;
        }
        var domain = address[(at + 1)..];
        if (string.Equals(address[..at], "postmaster", StringComparison.OrdinalIgnoreCase))
        {
            return "postmaster@" + domain.ToLowerInvariant();
        }
        return _catchAll.GetValueOrDefault(domain);
    }

    /// <param name="declaredSize">MAIL FROM's SIZE= (0 when not given).</param>
    public LocalRecipientVerdict Check(string address, long declaredSize)
    {
        if (Resolve(address) is not { } mailbox)
        {
            return LocalRecipientVerdict.Unknown;
        }
        if (QuotaBytes <= 0)
        {
            return LocalRecipientVerdict.Accept;
        }
        if (declaredSize > QuotaBytes)
        {
            return LocalRecipientVerdict.TooLarge;
        }
        return _usedBytes(mailbox) + declaredSize >= QuotaBytes ? LocalRecipientVerdict.MailboxFull : LocalRecipientVerdict.Accept;
    }
}
