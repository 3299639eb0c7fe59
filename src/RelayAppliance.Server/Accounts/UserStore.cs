using System.Security.Cryptography;
using System.Text;

namespace RelayAppliance.Server.Accounts;

/// <summary>
/// The users that AUTH (and POP3) check, in one text file under the data directory:
/// <c>address:iterations:salt-base64:hash-base64</c> per line, PBKDF2-SHA256 with a per-user salt.
/// Written atomically (temp file, fsync, rename); readers reload when the file changes, so a running
/// server picks up <c>relayd user</c> edits without a restart.
/// </summary>
public sealed class UserStore
{
    public const string FileName = "users";
    // OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
    public const int DefaultIterations = 600_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    private readonly string _path;
    private readonly object _gate = new();
    private Dictionary<string, UserRecord> _users = new(StringComparer.OrdinalIgnoreCase);
    private (DateTime WriteTime, long Length) _loadedVersion;

    public UserStore(string dataDirectory)
    {
        _path = Path.Combine(dataDirectory, FileName);
    }

    public string FilePath => _path;

    private sealed record UserRecord(string Address, int Iterations, byte[] Salt, byte[] Hash);

    /// <summary>Constant-work check: an unknown user costs the same PBKDF2 as a known one.</summary>
    public bool Verify(string address, ReadOnlySpan<byte> passwordUtf8)
    {
        var users = Current();
        if (!users.TryGetValue(address, out var user))
        {
            Rfc2898DeriveBytes.Pbkdf2(passwordUtf8, stackalloc byte[SaltBytes], stackalloc byte[HashBytes], DefaultIterations, HashAlgorithmName.SHA256);
            return false;
        }
        Span<byte> computed = stackalloc byte[HashBytes];
        Rfc2898DeriveBytes.Pbkdf2(passwordUtf8, user.Salt, computed, user.Iterations, HashAlgorithmName.SHA256);
        return CryptographicOperations.FixedTimeEquals(computed, user.Hash);
    }

    public bool Exists(string address) => Current().ContainsKey(address);

    /// <summary>Forgets the loaded file version, so the next lookup re-reads the file (SIGHUP; an edit within the mtime granularity).</summary>
    public void Reload()
    {
        lock (_gate)
        {
            _loadedVersion = default;
        }
    }

    public IReadOnlyList<string> List()
    {
        var names = Current().Keys.ToList();
        names.Sort(StringComparer.OrdinalIgnoreCase);
        return names;
    }

    /// <summary>Adds or replaces a user's password.</summary>
    public void SetPassword(string address, string password, int iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        lock (_gate)
        {
            var users = new Dictionary<string, UserRecord>(Load(), StringComparer.OrdinalIgnoreCase)
            {
                [address] = new UserRecord(address, iterations, salt, hash),
            };
            Save(users);
        }
    }

    public bool Remove(string address)
    {
        lock (_gate)
        {
            var users = new Dictionary<string, UserRecord>(Load(), StringComparer.OrdinalIgnoreCase);
            if (!users.Remove(address))
            {
                return false;
            }
            Save(users);
            return true;
        }
    }

    /// <summary>A valid user name is a mailbox-like token without the separator or whitespace.</summary>
    public static bool IsValidAddress(string address) =>
        address.Length is > 0 and <= 320 && !address.Any(c => c == ':' || char.IsWhiteSpace(c) || char.IsControl(c));

    private Dictionary<string, UserRecord> Current()
    {
        lock (_gate)
        {
            return Load();
        }
    }

    // Caller holds _gate. Re-reads only when the file's write time or length changed.
    private Dictionary<string, UserRecord> Load()
    {
        var info = new FileInfo(_path);
        var version = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1L);
        if (version == _loadedVersion)
        {
            return _users;
        }
        var users = new Dictionary<string, UserRecord>(StringComparer.OrdinalIgnoreCase);
        if (info.Exists)
        {
            foreach (var line in File.ReadLines(_path))
            {
                if (TryParse(line, out var user))
                {
                    users[user.Address] = user;
                }
            }
        }
        _users = users;
        _loadedVersion = version;
        return users;
    }

    private static bool TryParse(string line, out UserRecord user)
    {
        user = null!;
        var parts = line.Split(':');
        if (parts.Length != 4 || !int.TryParse(parts[1], out var iterations) || iterations < 1)
        {
            return false;
        }
        try
        {
            user = new UserRecord(parts[0], iterations, Convert.FromBase64String(parts[2]), Convert.FromBase64String(parts[3]));
            return user.Hash.Length == HashBytes;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private void Save(Dictionary<string, UserRecord> users)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + ".tmp";
        var text = new StringBuilder();
        foreach (var user in users.Values.OrderBy(u => u.Address, StringComparer.OrdinalIgnoreCase))
        {
            text.Append(user.Address).Append(':').Append(user.Iterations).Append(':')
                .Append(Convert.ToBase64String(user.Salt)).Append(':').Append(Convert.ToBase64String(user.Hash)).Append('\n');
        }
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, _path, overwrite: true);
        _loadedVersion = default; // force the next reader to re-read what we wrote
    }
}
