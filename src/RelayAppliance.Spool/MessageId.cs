using System.Globalization;

namespace RelayAppliance.Spool;

/// <summary>Message identifier: unique across restarts, printed as 16 lower-case hex digits.</summary>
public readonly record struct MessageId(ulong Value)
{
    public override string ToString() => Value.ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>Parses exactly 16 hex digits (either case), the form <see cref="ToString"/> prints.</summary>
    public static bool TryParse(string text, out MessageId id)
    {
        id = default;
        // Exactly 16 digits: ids are always printed zero-padded, so anything else is a typo, not an id.
        if (text is null || text.Length != 16)
            return false;
        if (!ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
            return false;
        id = new MessageId(value);
        return true;
    }
}
