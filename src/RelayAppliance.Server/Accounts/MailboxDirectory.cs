namespace RelayAppliance.Server.Accounts;

/// <summary>What RCPT TO answers for a recipient in a local domain.</summary>
public enum LocalRecipientVerdict : byte { Accept, Unknown, MailboxFull, TooLarge }

/// <summary>
/// Which mailbox a local address delivers to: an alias, else the user of that name (`relayd user add`), else
/// postmaster (RFC 5321 §4.5.1: it always exists; its mailbox is read by creating the user postmaster@domain or by
/// aliasing it), else the domain's catch-all. Shared by RCPT TO (unknown users are refused at once, so no
/// backscatter) and by local delivery (a user removed meanwhile bounces). Aliases, catch-alls and the quota change
/// on reload (<see cref="Reconfigure"/>): one immutable table swapped atomically, so a lookup never sees half of each.
/// </summary>
public sealed class MailboxDirectory
{
    private sealed record Table(string DefaultDomain, Dictionary<string, string> Aliases, Dictionary<string, string> CatchAll, long QuotaBytes);

    private readonly UserStore _users;
    private readonly Func<string, long> _usedBytes;
    private volatile Table _table;

    /// <param name="aliases">Full address → mailbox (case-insensitive).</param>
    /// <param name="catchAll">Domain → mailbox for otherwise unknown local parts.</param>
    /// <param name="usedBytes">Octets a mailbox holds now.</param>
    /// <param name="quotaBytes">Per mailbox; 0: unlimited.</param>
    public MailboxDirectory(UserStore users, IReadOnlyList<string> localDomains, IReadOnlyDictionary<string, string> aliases,
        IReadOnlyDictionary<string, string> catchAll, Func<string, long> usedBytes, long quotaBytes)
    {
        _users = users;
        _usedBytes = usedBytes;
        _table = CreateTable(localDomains, aliases, catchAll, quotaBytes);
    }

    public long QuotaBytes => _table.QuotaBytes;

    /// <summary>Replaces the aliases, catch-alls and quota (configuration reload); lookups already running finish on the old table.</summary>
    public void Reconfigure(IReadOnlyList<string> localDomains, IReadOnlyDictionary<string, string> aliases,
        IReadOnlyDictionary<string, string> catchAll, long quotaBytes) =>
        _table = CreateTable(localDomains, aliases, catchAll, quotaBytes);

    private static Table CreateTable(IReadOnlyList<string> localDomains, IReadOnlyDictionary<string, string> aliases,
        IReadOnlyDictionary<string, string> catchAll, long quotaBytes) => new(
        localDomains.Count > 0 ? localDomains[0].ToLowerInvariant() : "localhost",
        new Dictionary<string, string>(aliases, StringComparer.OrdinalIgnoreCase),
        new Dictionary<string, string>(catchAll, StringComparer.OrdinalIgnoreCase),
        quotaBytes);

    /// <summary>The mailbox for a recipient of a local domain, or null when there is none.</summary>
    public string? Resolve(string address)
    {
        var table = _table;
        var at = address.LastIndexOf('@');
        if (at < 0)
        {
            // RCPT TO:<Postmaster> without a domain (RFC 5321 §4.5.1).
            return string.Equals(address, "postmaster", StringComparison.OrdinalIgnoreCase) ? Resolve("postmaster@" + table.DefaultDomain) : null;
        }
        if (table.Aliases.TryGetValue(address, out var target))
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
        return table.CatchAll.GetValueOrDefault(domain);
    }

    /// <param name="declaredSize">MAIL FROM's SIZE= (negative or 0 when not given).</param>
    public LocalRecipientVerdict Check(string address, long declaredSize)
    {
        declaredSize = Math.Max(declaredSize, 0);
        if (Resolve(address) is not { } mailbox)
        {
            return LocalRecipientVerdict.Unknown;
        }
        var quota = QuotaBytes;
        if (quota <= 0)
        {
            return LocalRecipientVerdict.Accept;
        }
        if (declaredSize > quota)
        {
            return LocalRecipientVerdict.TooLarge;
        }
        return _usedBytes(mailbox) + declaredSize >= quota ? LocalRecipientVerdict.MailboxFull : LocalRecipientVerdict.Accept;
    }
}
