using System;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>One JSON style for every store file, and the mapping of unreadable JSON to StoreCorrupt.</summary>
    internal static class StoreJson
    {
        public static readonly JsonSerializerOptions Indented = Options(indented: true);
        public static readonly JsonSerializerOptions Compact = Options(indented: false);

        static JsonSerializerOptions Options(bool indented)
        {
            var o = new JsonSerializerOptions
            {
                PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
                WriteIndented = indented,
                DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            };
            o.Converters.Add(new JsonStringEnumConverter());
            return o;
        }

        /// <summary>Reads a JSON file; null when it does not exist.</summary>
        public static T? ReadFile<T>(string path) where T : class
        {
            string text;
            try { text = File.ReadAllText(path, Encoding.UTF8); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            return Parse<T>(text, path);
        }

        public static T Parse<T>(string text, string path) where T : class
        {
            try
            {
                return JsonSerializer.Deserialize<T>(text, Indented) ?? throw new JsonException("the document is null");
            }
            catch (JsonException e)
            {
                throw Corrupt(path, e.Message, e);
            }
            catch (NotSupportedException e)
            {
                throw Corrupt(path, e.Message, e);
            }
        }

        public static HsmException Corrupt(string path, string why, Exception? inner = null) =>
            new HsmException(HsmErrorIds.StoreCorrupt, HsmErrorKind.InvalidData,
                $"The host store file {path} is corrupt ({why}). Restore it from backup or remove it; nothing was changed.", path, inner);

        public static void WriteFile<T>(string path, T value, FileAccessScope scope) =>
            SecureFiles.WriteAtomic(path, JsonSerializer.Serialize(value, Indented) + "\n", scope);
    }
}
